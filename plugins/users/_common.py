"""Shared pieces of the user plugins: name checks, the account databases
(``/etc/passwd``, ``group``, ``shadow``, ``login.defs``) and running the shadow tools.

Not a plugin (no entry point); imported by the ``user.*``, ``group.*`` and
``sudo.*`` plugins.
"""

from __future__ import annotations

import os
import pwd
import re

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    NotFound,
    ProcessResult,
    names,
    root_dir,
)

# What useradd accepts by default (shadow's is_valid_user_name), a little wider for lookups.
_NEW_NAME = re.compile(names.USER_NEW)
_ANY_NAME = re.compile(names.USER)


def name_ok(name: str, field: str = "name", new: bool = False) -> str:
    """Refuse a string that is not a user or group name (A002)."""
    if not (_NEW_NAME if new else _ANY_NAME).match(name):
        raise InvalidParams(f"{field}: {name!r} is not a valid {'new ' if new else ''}user/group name")
    return name


def require_user(name: str, field: str = "user") -> pwd.struct_passwd:
    """The account ``name`` (through NSS, so LDAP users count), else A017."""
    name_ok(name, field)
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise NotFound(f"no user named {name!r} on this host") from None


def check_root(root: str | None) -> str:
    """The root to inspect: ``/`` or an image/chroot (checked by the SDK's :func:`root_dir`)."""
    return root_dir(root) or "/"


def etc(root: str, name: str) -> str:
    return os.path.join(root, "etc", name)


def read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read().splitlines()
    except FileNotFoundError:
        return []


def login_defs(root: str = "/") -> dict[str, str]:
    out: dict[str, str] = {}
    for line in read_lines(etc(root, "login.defs")):
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 2:
            out[parts[0]] = parts[1]
    return out


def uid_range(root: str = "/") -> tuple[int, int]:
    """UID_MIN..UID_MAX from login.defs: the range of ordinary (human) accounts."""
    defs = login_defs(root)
    return int(defs.get("UID_MIN", "1000")), int(defs.get("UID_MAX", "60000"))


class PasswdEntry(msgspec.Struct):
    name: str
    uid: int
    gid: int
    gecos: str
    home: str
    shell: str
    line: int


class GroupEntry(msgspec.Struct):
    name: str
    gid: int
    members: list[str]
    line: int


def read_passwd(root: str = "/") -> list[PasswdEntry]:
    out = []
    for no, line in enumerate(read_lines(etc(root, "passwd")), start=1):
        f = line.split(":")
        if len(f) < 7 or line.startswith(("#", "+", "-")):
            continue
        try:
            out.append(
                PasswdEntry(
                    name=f[0],
                    uid=int(f[2]),
                    gid=int(f[3]),
                    gecos=f[4],
                    home=f[5],
                    shell=f[6],
                    line=no,
                )
            )
        except ValueError:
            continue
    return out


def read_group(root: str = "/") -> list[GroupEntry]:
    out = []
    for no, line in enumerate(read_lines(etc(root, "group")), start=1):
        f = line.split(":")
        if len(f) < 4 or line.startswith(("#", "+", "-")):
            continue
        try:
            out.append(
                GroupEntry(
                    name=f[0], gid=int(f[2]), members=[m for m in f[3].split(",") if m], line=no
                )
            )
        except ValueError:
            continue
    return out


def read_shadow(root: str = "/") -> dict[str, list[str]]:
    """``name -> fields`` of ``/etc/shadow`` (empty when not readable)."""
    out: dict[str, list[str]] = {}
    try:
        lines = read_lines(etc(root, "shadow"))
    except PermissionError:
        return out
    for line in lines:
        f = line.split(":")
        if len(f) >= 2:
            out[f[0]] = f
    return out


def password_state(hashed: str | None) -> str:
    """What a shadow password field means for logging in with a password."""
    if hashed is None:
        return "unknown"
    if hashed == "":
        return "empty"
    if hashed.startswith("!"):
        return "locked"
    if hashed in ("*", "x") or not hashed.startswith("$") and len(hashed) < 13:
        return "no-password"
    return "set"


def shells(root: str = "/") -> set[str]:
    return {ln.strip() for ln in read_lines(etc(root, "shells")) if ln.strip().startswith("/")}


def can_login(shell: str, valid: set[str]) -> bool:
    base = os.path.basename(shell)
    return base not in ("nologin", "false", "sync", "halt", "shutdown") and (
        not valid or shell in valid
    )


async def shadow_tool(ctx: ActionContext, argv: list[str], what: str) -> ProcessResult:
    """Run useradd/usermod/groupadd/... and map their exit codes to catalogue codes."""
    res = await ctx.run(argv, c_locale=True)
    if res.exit_code == 0:
        return res
    err = (res.stderr or res.stdout).strip()
    low = err.lower()
    if "permission denied" in low or "only root" in low:
        raise ActionError(f"{what}: {err}", code=ErrorCode.A016, data=res)
    if "does not exist" in low:
        raise ActionError(f"{what}: {err}", code=ErrorCode.A017, data=res)
    if "invalid" in low:
        raise ActionError(f"{what}: {err}", code=ErrorCode.A002, data=res)
    raise ActionError(
        f"{what}: {err or f'exit status {res.exit_code}'}", code=ErrorCode.A014, data=res
    )
