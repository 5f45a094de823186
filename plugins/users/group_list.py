"""Local groups from ``/etc/group`` with every member, primary ones included.

``group.list`` parses the local group database and returns each group's gid
and members. ``/etc/group`` only names the *supplementary* members; this
plugin adds the users whose *primary* group it is (from ``/etc/passwd``),
which is the list an operator actually wants, and flags members that do not
exist as users. Filter by name or by member. With ``root`` it reads an image
or chroot. Read only.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, NotFound, Plugin, Risk, action

from ._common import check_root, login_defs, name_ok, read_group, read_passwd

PLUGIN = Plugin(
    "group.list", domain="users", requires_files=["/etc/group"]
)


class GroupListParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    member: str | None = None
    """Only the groups this user belongs to (primary or supplementary)."""
    root: str | None = None


class GroupRow(msgspec.Struct):
    name: str
    gid: int
    system: bool
    members: list[str]
    """Supplementary members, as listed in /etc/group."""
    primary_members: list[str]
    unknown_members: list[str]


class GroupList(msgspec.Struct):
    groups: list[GroupRow]


@action("group.list", risk=Risk.READ, timeout=20)
async def group_list(ctx: ActionContext, p: GroupListParams) -> GroupList:
    """Groups with gid, supplementary and primary members, and members that do not exist."""
    root = check_root(p.root)
    if p.name is not None:
        name_ok(p.name)
    if p.member is not None:
        name_ok(p.member, "member")
    users = read_passwd(root)
    known = {u.name for u in users}
    gid_min = int(login_defs(root).get("GID_MIN", "1000"))
    rows = []
    for g in read_group(root):
        primary = sorted(u.name for u in users if u.gid == g.gid)
        row = GroupRow(
            name=g.name,
            gid=g.gid,
            system=g.gid < gid_min,
            members=g.members,
            primary_members=primary,
            unknown_members=[m for m in g.members if m not in known],
        )
        if p.name is not None and g.name != p.name:
            continue
        if p.member is not None and p.member not in g.members and p.member not in primary:
            continue
        rows.append(row)
    if p.name is not None and not rows:
        raise NotFound(f"no group named {p.name!r}")
    return GroupList(groups=rows)
