"""Create and delete local groups and change their membership.

``group.add`` creates a group with ``groupadd`` (optionally with a fixed gid
or as a system group), ``group.remove`` deletes one with ``groupdel`` (which
refuses a group that is still some user's primary group), and
``group.adduser`` / ``group.deluser`` add or remove a supplementary member
with ``gpasswd``. Each returns the group's members afterwards, so the change
can be checked in the same answer.
"""

from __future__ import annotations

import grp
from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    NotFound,
    Plugin,
    Risk,
    action,
)

from ._common import name_ok, require_user, shadow_tool

PLUGIN = Plugin(
    "group",
    domain="users",
    requires=["groupadd", "groupdel", "gpasswd"],
)

_PROTECTED = {"root", "sudo", "wheel", "adm", "shadow", "admin"}


class GroupAddParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    gid: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 2)] | None = None
    system: bool = False


class GroupNameParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class MemberParams(msgspec.Struct, forbid_unknown_fields=True):
    group: str
    user: str


class Group(msgspec.Struct):
    name: str
    gid: int
    members: list[str]


class GroupRemoved(msgspec.Struct):
    name: str
    gid: int


def _group(name: str) -> grp.struct_group:
    name_ok(name, "group")
    try:
        return grp.getgrnam(name)
    except KeyError:
        raise NotFound(f"no group named {name!r}") from None


def _view(name: str) -> Group:
    g = grp.getgrnam(name)
    return Group(name=g.gr_name, gid=g.gr_gid, members=list(g.gr_mem))


@action("group.add", risk=Risk.CHANGE, timeout=30)
async def add(ctx: ActionContext, p: GroupAddParams) -> Group:
    """Create a group (groupadd), optionally with a fixed gid or as a system group."""
    name_ok(p.name, new=True)
    try:
        grp.getgrnam(p.name)
        raise ActionError(f"group {p.name} already exists", code=ErrorCode.A014)
    except KeyError:
        pass
    argv = ["groupadd"]
    if p.gid is not None:
        argv += ["-g", str(p.gid)]
    if p.system:
        argv.append("-r")
    await shadow_tool(ctx, [*argv, "--", p.name], "groupadd")
    return _view(p.name)


@action("group.remove", risk=Risk.DANGER, timeout=30)
async def remove(ctx: ActionContext, p: GroupNameParams) -> GroupRemoved:
    """Delete a group (groupdel); refused for root/sudo/wheel/adm/shadow and primary groups."""
    g = _group(p.name)
    if g.gr_name in _PROTECTED or g.gr_gid == 0:
        raise ActionError(f"refusing to remove the {g.gr_name} group", code=ErrorCode.A016)
    await shadow_tool(ctx, ["groupdel", "--", g.gr_name], "groupdel")
    return GroupRemoved(name=g.gr_name, gid=g.gr_gid)


@action("group.adduser", risk=Risk.CHANGE, timeout=30)
async def adduser(ctx: ActionContext, p: MemberParams) -> Group:
    """Add a user to a group as a supplementary member (gpasswd -a)."""
    _group(p.group)
    require_user(p.user)
    await shadow_tool(ctx, ["gpasswd", "-a", p.user, p.group], "gpasswd -a")
    return _view(p.group)


@action("group.deluser", risk=Risk.CHANGE, timeout=30)
async def deluser(ctx: ActionContext, p: MemberParams) -> Group:
    """Remove a user's supplementary membership of a group (gpasswd -d)."""
    g = _group(p.group)
    require_user(p.user)
    if p.user not in g.gr_mem:
        raise NotFound(f"{p.user} is not a supplementary member of {p.group}")
    await shadow_tool(ctx, ["gpasswd", "-d", p.user, p.group], "gpasswd -d")
    return _view(p.group)
