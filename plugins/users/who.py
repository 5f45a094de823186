"""Who is logged in now: sessions from utmp with idle time and liveness.

``user.who`` reads the utmp file (``/run/utmp``) directly and returns each
login session: user, terminal, remote host, login time, the session's
process and whether it still exists (stale utmp entries left by a crashed
sshd are common and are flagged rather than hidden), and the idle time of
its terminal. The system boot time and runlevel recorded in utmp come with
it. Reads files only.
"""

from __future__ import annotations

import os
import time

import msgspec

from agent_core import ActionContext, InvalidParams, NotFound, Plugin, Risk, action

from . import _utmp
from ._common import name_ok

PLUGIN = Plugin("user.who", domain="users")

_DEFAULT = ("/run/utmp", "/var/run/utmp")


class WhoParams(msgspec.Struct, forbid_unknown_fields=True):
    user: str | None = None
    include_stale: bool = True
    file: str | None = None


class LoginSession(msgspec.Struct):
    user: str
    line: str
    host: str
    login: str
    login_time: float
    pid: int
    alive: bool
    """The session's process still exists (false: a stale utmp entry)."""
    idle_seconds: float | None


class Who(msgspec.Struct):
    file: str
    sessions: list[LoginSession]
    users: list[str]
    """Distinct users with a live session."""
    boot_time: str | None
    runlevel: str | None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _idle(line: str, now: float) -> float | None:
    if not line or "/" in line.replace("pts/", "", 1):
        return None
    try:
        return round(max(0.0, now - os.stat(f"/dev/{line}").st_atime), 1)
    except OSError:
        return None


def gather(path: str, user: str | None, include_stale: bool) -> Who:
    try:
        records = _utmp.read(path)
    except FileNotFoundError:
        raise NotFound(f"{path} does not exist") from None
    now = time.time()
    sessions: list[LoginSession] = []
    boot = runlevel = None
    for r in records:
        if r.type == _utmp.BOOT_TIME:
            boot = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(r.time))
        elif r.type == _utmp.RUN_LVL and r.user == "runlevel":
            level = r.pid % 256
            runlevel = chr(level) if 32 < level < 127 else str(level)
        elif r.type == _utmp.USER_PROCESS and r.user:
            if user is not None and r.user != user:
                continue
            alive = _alive(r.pid)
            if not alive and not include_stale:
                continue
            sessions.append(
                LoginSession(
                    user=r.user,
                    line=r.line,
                    host=r.host,
                    login=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(r.time)),
                    login_time=r.time,
                    pid=r.pid,
                    alive=alive,
                    idle_seconds=_idle(r.line, now),
                )
            )
    return Who(
        file=path,
        sessions=sessions,
        users=sorted({s.user for s in sessions if s.alive}),
        boot_time=boot,
        runlevel=runlevel,
    )


def _exists(path: str) -> bool:
    return os.path.exists(path)


def _default_file() -> str:
    return next((f for f in _DEFAULT if os.path.exists(f)), _DEFAULT[0])


@action("user.who", risk=Risk.READ, timeout=20)
async def who(ctx: ActionContext, p: WhoParams) -> Who:
    """Logged-in sessions with host, login time, process liveness and terminal idle time."""
    user = name_ok(p.user, "user") if p.user else None
    if p.file is not None and not p.file.startswith("/"):
        raise InvalidParams(f"file: {p.file!r} is not an absolute path")
    path = p.file or _default_file()
    if p.file is None and not _exists(path):
        # No utmp at all (minimal containers): nobody is recorded as logged in.
        return Who(file="", sessions=[], users=[], boot_time=None, runlevel=None)
    return gather(path, user, p.include_stale)
