"""Count failed logins from btmp (what ``lastb`` reads) or the auth log, by user and source.

``sec.failed_logins`` decodes the binary ``/var/log/btmp`` records directly
(or, when asked or when btmp is missing, parses ``/var/log/auth.log`` /
``/var/log/secure`` for sshd and PAM failures) and returns the number of
failures in a time window, the users and source addresses tried most, and the
most recent attempts. That is the first look at a brute-force attack, and
the input for a block list. It only reads.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import struct
import time
from collections import Counter
from typing import Annotated, Literal

import msgspec

from agent_core import ActionContext, NotFound, Plugin, Risk, abs_path, action
from plugins._fs import fs_errors, read_last_lines
from plugins.logs import parse_line

PLUGIN = Plugin("sec.failed_logins", domain="security")

BTMP = "/var/log/btmp"
AUTH_LOGS = ("/var/log/auth.log", "/var/log/secure")

# glibc's struct utmp on 64-bit Linux: 384 bytes, 32-bit time fields.
UTMP = struct.Struct("<hxxi32s4s32s256shhiii16s20s")

_AUTH = [
    re.compile(r"Failed (?:password|publickey|keyboard-interactive/pam) for (?:invalid user )?(?P<user>\S*) from (?P<src>\S+)"),
    re.compile(r"Invalid user (?P<user>\S*) from (?P<src>\S+)"),
    re.compile(r"authentication failure;.*?rhost=(?P<src>\S*)(?:\s+user=(?P<user>\S+))?"),
]


class FailedParams(msgspec.Struct, forbid_unknown_fields=True):
    source: Literal["auto", "btmp", "authlog"] = "auto"
    path: str | None = None
    since_hours: Annotated[float, msgspec.Meta(gt=0)] = 24
    top: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 10
    recent: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 20


class Attempt(msgspec.Struct):
    time: float
    user: str
    source: str
    tty: str = ""
    service: str = ""


class Count(msgspec.Struct):
    name: str
    count: int


class FailedReport(msgspec.Struct):
    source: str
    path: str
    since: float
    total: int
    users: list[Count]
    sources: list[Count]
    recent: list[Attempt]


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("utf-8", "replace")


def _addr(raw: bytes, host: str) -> str:
    words = struct.unpack("<4I", raw)
    if not any(words):
        return host
    if not any(words[1:]):
        return str(ipaddress.IPv4Address(raw[:4]))
    return str(ipaddress.IPv6Address(raw))


def parse_btmp(path: str, since: float) -> list[Attempt]:
    """Decode utmp records (btmp has the same layout as wtmp) newer than ``since``."""
    out = []
    with open(path, "rb") as fh:
        data = fh.read()
    for off in range(0, len(data) - UTMP.size + 1, UTMP.size):
        _type, _pid, line, _id, user, host, _e1, _e2, _sess, sec, _usec, addr, _ = UTMP.unpack_from(data, off)
        if sec < since:
            continue
        hostname = _text(host)
        out.append(Attempt(time=float(sec), user=_text(user), source=_addr(addr, hostname) or hostname, tty=_text(line)))
    return out


def parse_authlog(path: str, since: float) -> list[Attempt]:
    """Failed sshd/PAM attempts in an auth log newer than ``since``."""
    lines, _, _ = read_last_lines(path, 10_000_000, 64 * 1024 * 1024)
    now = datetime.datetime.now()
    out = []
    for line in lines:
        entry = parse_line(line, now)
        if entry.time is None or entry.time < since:
            continue
        for rx in _AUTH:
            m = rx.search(entry.message)
            if m:
                user = m.groupdict().get("user") or ""
                out.append(Attempt(time=entry.time, user=user, source=m.group("src") or "", service=entry.program))
                break
    # sshd logs "Invalid user" and then "Failed password" for the same try: count it once.
    seen: set[tuple[float, str, str]] = set()
    unique = []
    for a in out:
        key = (a.time, a.user, a.source)
        if key not in seen:
            seen.add(key)
            unique.append(a)
    return unique


def _pick(p: FailedParams) -> tuple[str, str]:
    if p.path is not None:
        path = abs_path(p.path)
        if p.source != "auto":
            return p.source, path
        # utmp records are binary (NUL padded); an auth log is text.
        with fs_errors(path), open(path, "rb") as fh:
            return ("btmp" if b"\x00" in fh.read(UTMP.size) else "authlog"), path
    if p.source in ("auto", "btmp") and os.path.exists(BTMP):
        return "btmp", BTMP
    if p.source in ("auto", "authlog"):
        found = next((f for f in AUTH_LOGS if os.path.exists(f)), None)
        if found:
            return "authlog", found
    raise NotFound(f"no failed-login record on this host ({BTMP}, {', '.join(AUTH_LOGS)})")


def _report(p: FailedParams, cancel: object) -> FailedReport:
    kind, path = _pick(p)
    since = time.time() - p.since_hours * 3600
    with fs_errors(path):
        attempts = parse_btmp(path, since) if kind == "btmp" else parse_authlog(path, since)
    attempts.sort(key=lambda a: a.time)
    users = Counter(a.user for a in attempts)
    sources = Counter(a.source for a in attempts)
    return FailedReport(
        source=kind,
        path=path,
        since=since,
        total=len(attempts),
        users=[Count(n, c) for n, c in users.most_common(p.top)],
        sources=[Count(n, c) for n, c in sources.most_common(p.top)],
        recent=attempts[-p.recent :] if p.recent else [],
    )


@action("sec.failed_logins", risk=Risk.READ, timeout=120)
async def failed_logins(ctx: ActionContext, p: FailedParams) -> FailedReport:
    """Failed logins in the last ``since_hours``: totals, top users and sources, latest tries."""
    return await ctx.to_thread(_report, p, cancellable=True)
