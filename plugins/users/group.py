"""Local groups: list, inspect, declare present (gid and members) or absent.

One action set with one result shape (``Group``) whatever the host's tools:
``user.group.list`` lists the groups of ``/etc/group`` (or an image's with
``root``) with supplementary members, the users whose *primary* group it is
(``/etc/group`` does not name them) and listed members that are not users;
``user.group.info`` gives one group through the name service;
``user.group.present`` creates the group or changes its gid, and sets the
exact supplementary ``members`` or adds/removes some; ``user.group.absent``
deletes it (never root, sudo, wheel, adm, shadow or admin). Changes go through
shadow-utils (``groupadd``/``groupmod``/``groupdel``/``gpasswd``) or busybox
``addgroup``/``delgroup``; each answers ``changed``, the diff, the commands
and the group afterwards, and ``dry_run`` stops before running them.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, NotFound, Plugin, Risk, action

from ._accounts import (
    PROTECTED_GROUPS,
    Group,
    GroupChange,
    find_group,
    group_view,
    list_groups,
)
from ._backend import BackendName, choose, run_plan
from ._common import check_root, name_ok, require_user
from ._plan import diff_text

PLUGIN = Plugin("user.group", domain="users")


class GroupListParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    member: str | None = None
    """Only the groups this user belongs to (primary or supplementary)."""
    root: str | None = None


class GroupList(msgspec.Struct):
    groups: list[Group]


class GroupInfoParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    root: str | None = None


class GroupSpec(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    gid: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 2)] | None = None
    system: bool = False
    """Create as a system group (gid below GID_MIN)."""
    members: list[str] | None = None
    """The exact set of supplementary members; ``None`` keeps them."""
    add_members: list[str] = []
    remove_members: list[str] = []
    dry_run: bool = False
    backend: BackendName | None = None
    """``shadow`` or ``busybox`` instead of the host's (shadow-utils when it is complete)."""


class GroupAbsentParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    dry_run: bool = False
    backend: BackendName | None = None


@action("user.group.list", risk=Risk.READ, timeout=20)
async def group_list(ctx: ActionContext, p: GroupListParams) -> GroupList:
    """Groups with gid, supplementary and primary members, and members that do not exist."""
    root = check_root(p.root)
    for value, field in ((p.name, "name"), (p.member, "member")):
        if value is not None:
            name_ok(value, field)
    rows = [
        g
        for g in await ctx.to_thread(list_groups, root)
        if (p.name is None or g.name == p.name)
        and (p.member is None or p.member in g.members or p.member in g.primary_members)
    ]
    if p.name is not None and not rows:
        raise NotFound(f"no group named {p.name!r}")
    return GroupList(groups=rows)


@action("user.group.info", risk=Risk.READ, timeout=20)
async def group_info(ctx: ActionContext, p: GroupInfoParams) -> Group:
    """One group (through the name service on ``/``) with its members; A017 if unknown."""
    return await ctx.to_thread(group_view, p.name, check_root(p.root))


def _members(names: list[str], field: str) -> set[str]:
    for n in names:
        require_user(n, field)
    return set(names)


@action("user.group.present", risk=Risk.CHANGE, timeout=60)
async def present(ctx: ActionContext, p: GroupSpec) -> GroupChange:
    """Create the group or change its gid and supplementary members to match the declaration."""
    now = find_group(p.name)
    if now is None:
        name_ok(p.name, "name", new=True)
    add, remove = _members(p.add_members, "add_members"), _members(p.remove_members, "remove_members")
    current = set(now.members) if now else set()
    target = (_members(p.members, "members") if p.members is not None else current) | add
    target -= remove
    backend = choose(p.backend)
    plan: list[list[str]] = []
    lines: list[str] = []
    if now is None:
        plan += backend.add_group(p.name, p.gid, p.system)
        lines.append(f"+ group {p.name}" + (f" (gid={p.gid})" if p.gid is not None else ""))
    elif p.gid is not None and p.gid != now.gid:
        plan += backend.set_gid(p.name, p.gid)
        lines.append(f"gid: {now.gid} -> {p.gid}")
    for user in sorted(target - current):
        plan += backend.add_member(p.name, user)
        lines.append(f"+ member {user}")
    for user in sorted(current - target):
        plan += backend.remove_member(p.name, user)
        lines.append(f"- member {user}")
    if plan and not p.dry_run:
        await run_plan(ctx, plan)
    return GroupChange(
        name=p.name, changed=bool(plan), dry_run=p.dry_run, backend=backend.name, diff=diff_text(lines), commands=plan, group=find_group(p.name)
    )


@action("user.group.absent", risk=Risk.DANGER, timeout=30)
async def absent(ctx: ActionContext, p: GroupAbsentParams) -> GroupChange:
    """Delete the group; refused for root/sudo/wheel/adm/shadow/admin and gid 0."""
    now = find_group(p.name)
    backend = choose(p.backend)
    if now is None:
        return GroupChange(name=p.name, changed=False, dry_run=p.dry_run, backend=backend.name, diff="", commands=[], group=None)
    if now.name in PROTECTED_GROUPS or now.gid == 0:
        raise ActionError(f"refusing to remove the {now.name} group", code=ErrorCode.A016)
    plan = backend.delete_group(p.name)
    if not p.dry_run:
        await run_plan(ctx, plan)
    return GroupChange(
        name=p.name, changed=True, dry_run=p.dry_run, backend=backend.name, diff=diff_text([f"- group {p.name}"]), commands=plan, group=find_group(p.name)
    )
