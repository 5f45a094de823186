"""Login history from wtmp (sessions, reboots) and failed logins from btmp.

``user.last`` reads the login accounting file directly (``/var/log/wtmp``,
no ``last`` binary needed) and pairs each login with its logout the way
``last`` does: user, terminal, remote host, login and logout times, duration,
and how the session ended (logged out, still logged in, or cut by a reboot or
crash). Reboots and shutdowns are listed too. With ``failed`` it reads
``/var/log/btmp`` instead: failed login attempts with user name, terminal,
source host and time, the raw material for spotting password guessing.
Newest first; filter by user. Reads files only.
"""

from __future__ import annotations

import os
import time
from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, NotFound, Plugin, Risk, action

from . import _utmp
from ._common import name_ok

PLUGIN = Plugin("user.last", domain="users")

WTMP = "/var/log/wtmp"
BTMP = "/var/log/btmp"


class LastParams(msgspec.Struct, forbid_unknown_fields=True):
    user: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=10000)] = 50
    failed: bool = False
    """Read failed logins (btmp) instead of sessions (wtmp)."""
    file: str | None = None
    """Another wtmp/btmp file (e.g. a rotated ``wtmp.1``)."""


class Session(msgspec.Struct):
    user: str
    line: str
    host: str
    login: str
    login_time: float
    logout: str | None
    logout_time: float | None
    duration_seconds: float | None
    end: str
    """``logged out``, ``still logged in``, ``down`` (clean shutdown) or ``crash``."""


class SystemEvent(msgspec.Struct):
    event: str
    """``reboot`` or ``shutdown``."""
    time: str
    timestamp: float
    kernel: str


class FailedLogin(msgspec.Struct):
    user: str
    line: str
    host: str
    time: str
    timestamp: float


class LastLog(msgspec.Struct):
    file: str
    sessions: list[Session]
    system: list[SystemEvent]
    failed: list[FailedLogin]
    since: str | None
    """Time of the oldest record in the file."""


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ts))


def sessions(
    records: list[_utmp.Record], user: str | None, limit: int
) -> tuple[list[Session], list[SystemEvent]]:
    """Walk newest to oldest, pairing each login with the logout that followed it."""
    out: list[Session] = []
    events: list[SystemEvent] = []
    logouts: dict[str, float] = {}
    down: tuple[float, str] | None = None  # the next boot/shutdown after the record being read
    for r in reversed(records):
        if r.type == _utmp.BOOT_TIME or (r.type == _utmp.RUN_LVL and r.user == "shutdown"):
            kind = "reboot" if r.type == _utmp.BOOT_TIME else "shutdown"
            if len(events) < limit:
                events.append(
                    SystemEvent(event=kind, time=iso(r.time), timestamp=r.time, kernel=r.host)
                )
            # Reading backwards: open sessions older than a boot ended in a crash, unless a
            # shutdown record (read next, if there is one) says the host went down cleanly.
            down = (r.time, "down" if kind == "shutdown" else "crash")
            if kind == "reboot":
                logouts.clear()
            continue
        if r.type == _utmp.DEAD_PROCESS and r.line:
            logouts[r.line] = r.time
            continue
        if r.type != _utmp.USER_PROCESS or not r.user:
            continue
        end_time = logouts.pop(r.line, None)
        if end_time is not None:
            end = "logged out"
        elif down is not None:
            end_time, end = down
        else:
            end = "still logged in"
        if user is not None and r.user != user:
            continue
        if len(out) < limit:
            out.append(
                Session(
                    user=r.user,
                    line=r.line,
                    host=r.host,
                    login=iso(r.time),
                    login_time=r.time,
                    logout=iso(end_time) if end_time is not None else None,
                    logout_time=end_time,
                    duration_seconds=round(end_time - r.time, 3) if end_time is not None else None,
                    end=end,
                )
            )
    return out, events


def failed_logins(records: list[_utmp.Record], user: str | None, limit: int) -> list[FailedLogin]:
    out = []
    for r in reversed(records):
        if r.type not in (_utmp.LOGIN_PROCESS, _utmp.USER_PROCESS) or (
            user is not None and r.user != user
        ):
            continue
        out.append(
            FailedLogin(user=r.user, line=r.line, host=r.host, time=iso(r.time), timestamp=r.time)
        )
        if len(out) >= limit:
            break
    return out


def load(path: str) -> list[_utmp.Record]:
    try:
        return _utmp.read(path)
    except FileNotFoundError:
        raise NotFound(f"{path} does not exist (login accounting is off?)") from None
    except IsADirectoryError:
        raise InvalidParams(f"file: {path} is a directory") from None


@action("user.last", risk=Risk.READ, timeout=30)
async def last(ctx: ActionContext, p: LastParams) -> LastLog:
    """Sessions (login, logout, duration, how it ended), reboots, or failed logins; newest first."""

    user = name_ok(p.user, "user") if p.user else None
    path = p.file or (BTMP if p.failed else WTMP)
    if not os.path.isabs(path):
        raise InvalidParams(f"file: {path!r} is not an absolute path")
    records = await ctx.to_thread(load, path)
    since = iso(records[0].time) if records else None
    if p.failed:
        return LastLog(
            file=path,
            sessions=[],
            system=[],
            failed=failed_logins(records, user, p.limit),
            since=since,
        )
    found, events = sessions(records, user, p.limit)
    return LastLog(file=path, sessions=found, system=events, failed=[], since=since)
