"""Ensure a local user account exists with the declared uid, groups, home, shell and comment.

``user.present`` reads the account from the user database and compares it
with the declaration — uid, primary group, the exact set of supplementary
``groups``, home directory, login shell and comment (GECOS) — then runs
``useradd`` or ``usermod`` with only the options that differ (or, with
``present: false``, ``userdel``, keeping the home directory). It returns
``changed``, a per-field diff and a comment; ``dry_run`` only reports; a
second run changes nothing. An unknown group is A017. Changes the user
database (unless ``dry_run``).
"""

from __future__ import annotations

import grp
import pwd
import re
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
    names,
)

from ._common import StateResult

PLUGIN = Plugin("user.present", domain="state", requires=["useradd", "usermod", "userdel"])

_USER = re.compile(names.USER_NEW)
_GROUP = re.compile(names.GROUP)


class UserParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    present: bool = True
    uid: Annotated[int, msgspec.Meta(ge=0, lt=2**31)] | None = None
    group: str | None = None
    groups: list[str] | None = None
    home: str | None = None
    shell: str | None = None
    comment: str | None = None
    system: bool = False
    create_home: bool = True
    dry_run: bool = False


def _validate(p: UserParams) -> None:

    if not _USER.match(p.name):
        raise InvalidParams(f"name: {p.name!r} is not a valid user name")
    for g in ([p.group] if p.group else []) + (p.groups or []):
        if not _GROUP.match(g) and not g.isdigit():
            raise InvalidParams(f"group {g!r} is not a valid group name")
        try:
            grp.getgrgid(int(g)) if g.isdigit() else grp.getgrnam(g)
        except KeyError:
            raise NotFound(f"no group named {g!r}") from None
    for field in ("home", "shell"):
        value = getattr(p, field)
        if value is not None and not value.startswith("/"):
            raise InvalidParams(f"{field}: {value!r} is not an absolute path")
    if p.comment is not None and (":" in p.comment or "\n" in p.comment):
        raise InvalidParams("comment: may not contain ':' or a newline")


def current(name: str) -> dict[str, object] | None:
    """The account as the user database has it now, or None."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return None
    try:
        primary = grp.getgrgid(pw.pw_gid).gr_name
    except KeyError:
        primary = str(pw.pw_gid)
    groups = sorted(g.gr_name for g in grp.getgrall() if name in g.gr_mem and g.gr_name != primary)
    return {"uid": pw.pw_uid, "group": primary, "groups": groups, "home": pw.pw_dir, "shell": pw.pw_shell, "comment": pw.pw_gecos}


def _show(value: object) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)


def _group_name(g: str) -> str:
    return grp.getgrgid(int(g)).gr_name if g.isdigit() else g


def plan(p: UserParams, now: dict[str, object] | None) -> tuple[list[str], list[str]]:
    """``(argv, diff lines)`` to reach the declaration; an empty argv means nothing to do."""
    if not p.present:
        return (["userdel", p.name], [f"- user {p.name}"]) if now is not None else ([], [])
    want: dict[str, object] = {}
    if p.uid is not None:
        want["uid"] = p.uid
    if p.group is not None:
        want["group"] = _group_name(p.group)
    if p.groups is not None:
        want["groups"] = sorted({_group_name(g) for g in p.groups} - {want.get("group", now and now["group"])})
    for field in ("home", "shell", "comment"):
        if getattr(p, field) is not None:
            want[field] = getattr(p, field)
    flags = {"uid": "-u", "group": "-g", "groups": "-G", "home": "-d", "shell": "-s", "comment": "-c"}

    def arg(field: str, value: object) -> list[str]:
        return [flags[field], _show(value)]

    if now is None:
        argv = ["useradd"]
        for field, value in want.items():
            argv += arg(field, value)
        argv += (["-r"] if p.system else []) + (["-m"] if p.create_home else ["-M"]) + [p.name]
        details = ", ".join(f"{k}={_show(v)}" for k, v in want.items())
        return argv, [f"+ user {p.name}" + (f" ({details})" if details else "")]
    argv, diff = ["usermod"], []
    for field, value in want.items():
        if now[field] != value:
            argv += arg(field, value)
            diff.append(f"{field}: {_show(now[field])} -> {_show(value)}")
    return (argv + [p.name], diff) if diff else ([], [])


@action("user.present", risk=Risk.CHANGE, timeout=120)
async def present(ctx: ActionContext, p: UserParams) -> StateResult:
    """Ensure local user ``name`` exists as declared (or, with ``present: false``, does not)."""
    _validate(p)
    argv, diff = plan(p, current(p.name))
    text = "".join(x + "\n" for x in diff)
    if not argv:
        state = "exists as declared" if p.present else "does not exist"
        return StateResult(name=p.name, changed=False, dry_run=p.dry_run, diff="", comment=f"user {p.name} {state}")
    if p.dry_run:
        return StateResult(name=p.name, changed=True, dry_run=True, diff=text, comment=f"would run {argv[0]}")
    res = await ctx.run(argv)
    if res.exit_code != 0:
        raise ActionError(f"{argv[0]} failed ({res.exit_code}): {res.stderr.strip()}", code=ErrorCode.A014, data=res)
    left, _ = plan(p, current(p.name))
    if left:
        raise ActionError(f"user {p.name} still differs after {argv[0]}: {left}", code=ErrorCode.A014)
    return StateResult(name=p.name, changed=True, dry_run=False, diff=text, comment=f"ran {' '.join(argv[:1])} for {p.name}")
