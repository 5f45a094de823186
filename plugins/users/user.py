"""Create, change, lock, unlock and delete local user accounts.

``user.add`` creates an account with ``useradd`` (uid, primary and extra
groups, home, shell, comment, system account), ``user.modify`` changes shell,
comment, home or groups with ``usermod``, ``user.lock`` / ``user.unlock``
lock the password and, by default, expire the account so that SSH keys stop
working too (a locked password alone does not stop key logins), and
``user.remove`` deletes an account with ``userdel``, refusing root and system
accounts unless told otherwise. Each returns the account as it is afterwards.
"""

from __future__ import annotations

import grp
import os
import pwd
import time
from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    action,
)

from ._common import name_ok, password_state, read_shadow, require_user, shadow_tool, uid_range

PLUGIN = Plugin(
    "user",
    domain="users",
    requires=["useradd", "usermod", "userdel"],
)


class AddParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    uid: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 2)] | None = None
    group: str | None = None
    """Primary group (must exist); default: a new group named like the user."""
    groups: list[str] = []
    home: str | None = None
    create_home: bool = True
    shell: str = "/bin/bash"
    comment: str = ""
    system: bool = False


class ModifyParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    shell: str | None = None
    comment: str | None = None
    home: str | None = None
    move_home: bool = False
    group: str | None = None
    add_groups: list[str] = []
    """Extra groups to add (existing memberships are kept)."""


class NameParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class LockParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    expire: bool = True
    """Also expire (lock) / un-expire (unlock) the account, which stops key logins too."""


class RemoveParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    remove_home: bool = False
    allow_system: bool = False
    """Allow removing an account below UID_MIN (a system account)."""


class Account(msgspec.Struct):
    name: str
    uid: int
    gid: int
    group: str
    groups: list[str]
    home: str
    home_exists: bool
    shell: str
    comment: str
    password: str
    """``set``, ``locked``, ``empty``, ``no-password``."""
    expired: bool


class Removed(msgspec.Struct):
    name: str
    uid: int
    home_removed: bool


def account(name: str) -> Account:
    pw = pwd.getpwnam(name)
    shadow = read_shadow().get(name)
    try:
        group = grp.getgrgid(pw.pw_gid).gr_name
    except KeyError:
        group = str(pw.pw_gid)
    extra = sorted(g.gr_name for g in grp.getgrall() if name in g.gr_mem)
    expire = shadow[7] if shadow and len(shadow) > 7 else ""
    return Account(
        name=name,
        uid=pw.pw_uid,
        gid=pw.pw_gid,
        group=group,
        groups=extra,
        home=pw.pw_dir,
        home_exists=os.path.isdir(pw.pw_dir),
        shell=pw.pw_shell,
        comment=pw.pw_gecos,
        password=password_state(shadow[1] if shadow else None),
        expired=bool(expire) and expire.isdigit() and int(expire) * 86400 <= time.time(),
    )


def _exists(path: str) -> bool:
    return os.path.exists(path)


def _path(value: str, field: str) -> str:
    if not os.path.isabs(value) or ":" in value or "\n" in value:
        raise InvalidParams(f"{field}: {value!r} must be an absolute path without ':'")
    return value


def _comment(value: str) -> str:
    if ":" in value or "\n" in value or len(value) > 256:
        raise InvalidParams("comment: must not contain ':' or newlines (at most 256 characters)")
    return value


def _groups(names: list[str]) -> str:
    for g in names:
        name_ok(g, "groups")
        try:
            grp.getgrnam(g)
        except KeyError:
            raise NotFound(f"no group named {g!r}") from None
    return ",".join(names)


@action("user.add", risk=Risk.CHANGE, timeout=60)
async def add(ctx: ActionContext, p: AddParams) -> Account:
    """Create a local account (useradd) and return it."""
    name_ok(p.name, new=True)
    try:
        pwd.getpwnam(p.name)
        raise ActionError(f"user {p.name} already exists", code=ErrorCode.A014)
    except KeyError:
        pass
    argv = ["useradd", "-s", _path(p.shell, "shell"), "-c", _comment(p.comment)]
    argv += ["-m"] if p.create_home else ["-M"]
    if p.uid is not None:
        argv += ["-u", str(p.uid)]
    if p.group is not None:
        argv += ["-g", _groups([p.group])]
    if p.groups:
        argv += ["-G", _groups(p.groups)]
    if p.home is not None:
        argv += ["-d", _path(p.home, "home")]
    if p.system:
        argv.append("-r")
    await shadow_tool(ctx, [*argv, "--", p.name], "useradd")
    return account(p.name)


@action("user.modify", risk=Risk.CHANGE, timeout=60)
async def modify(ctx: ActionContext, p: ModifyParams) -> Account:
    """Change an account's shell, comment, home, primary group or add extra groups (usermod)."""
    require_user(p.name, "name")
    argv = ["usermod"]
    if p.shell is not None:
        argv += ["-s", _path(p.shell, "shell")]
    if p.comment is not None:
        argv += ["-c", _comment(p.comment)]
    if p.home is not None:
        argv += ["-d", _path(p.home, "home"), *(["-m"] if p.move_home else [])]
    if p.group is not None:
        argv += ["-g", _groups([p.group])]
    if p.add_groups:
        argv += ["-a", "-G", _groups(p.add_groups)]
    if len(argv) == 1:
        raise InvalidParams("give at least one of shell, comment, home, group, add_groups")
    await shadow_tool(ctx, [*argv, "--", p.name], "usermod")
    return account(p.name)


@action("user.lock", risk=Risk.CHANGE, timeout=30)
async def lock(ctx: ActionContext, p: LockParams) -> Account:
    """Lock the password and (by default) expire the account so no login works."""
    pw = require_user(p.name, "name")
    if pw.pw_uid == 0:
        raise ActionError("refusing to lock root", code=ErrorCode.A016)
    # Expiry date 1 = 1970-01-02: in the past, so PAM refuses every login method.
    await shadow_tool(
        ctx, ["usermod", "-L", *(["-e", "1"] if p.expire else []), "--", p.name], "usermod -L"
    )
    return account(p.name)


@action("user.unlock", risk=Risk.CHANGE, timeout=30)
async def unlock(ctx: ActionContext, p: LockParams) -> Account:
    """Unlock the password and (by default) clear the account's expiry date."""
    require_user(p.name, "name")
    await shadow_tool(
        ctx, ["usermod", "-U", *(["-e", ""] if p.expire else []), "--", p.name], "usermod -U"
    )
    return account(p.name)


@action("user.remove", risk=Risk.DANGER, timeout=120)
async def remove(ctx: ActionContext, p: RemoveParams) -> Removed:
    """Delete an account (userdel), optionally with its home; system accounts need ``allow_system``."""
    pw = require_user(p.name, "name")
    if pw.pw_uid == 0:
        raise ActionError("refusing to remove an account with uid 0", code=ErrorCode.A016)
    if pw.pw_uid < uid_range()[0] and not p.allow_system:
        raise ActionError(
            f"{p.name} (uid {pw.pw_uid}) is a system account; set allow_system to remove it",
            code=ErrorCode.A016,
        )
    home = pw.pw_dir
    await shadow_tool(ctx, ["userdel", *(["-r"] if p.remove_home else []), "--", p.name], "userdel")
    return Removed(name=p.name, uid=pw.pw_uid, home_removed=p.remove_home and not _exists(home))
