"""Read the login accounting files: ``utmp`` (who is on now), ``wtmp``
(logins, logouts, reboots) and ``btmp`` (failed logins).

The record is glibc's ``struct utmp`` on Linux (384 bytes, 32-bit times, the
same layout on 32- and 64-bit). Not a plugin; used by ``user.who`` and
``user.last``.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass

RECORD = struct.Struct("<h2xi32s4s32s256shhiii16s20s")
assert RECORD.size == 384

(
    EMPTY,
    RUN_LVL,
    BOOT_TIME,
    NEW_TIME,
    OLD_TIME,
    INIT_PROCESS,
    LOGIN_PROCESS,
    USER_PROCESS,
    DEAD_PROCESS,
    ACCOUNTING,
) = range(10)


@dataclass(frozen=True)
class Record:
    type: int
    pid: int
    line: str
    id: str
    user: str
    host: str
    exit_termination: int
    exit_status: int
    session: int
    time: float
    address: str


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _address(raw: bytes) -> str:
    if raw[4:] == b"\0" * 12:
        return str(ipaddress.IPv4Address(raw[:4])) if raw[:4] != b"\0\0\0\0" else ""
    return str(ipaddress.IPv6Address(raw))


def parse(data: bytes) -> Iterator[Record]:
    """Every whole record in ``data`` (a trailing partial record is ignored)."""
    for off in range(0, len(data) - RECORD.size + 1, RECORD.size):
        t, pid, line, ident, user, host, term, status, session, sec, usec, addr, _ = (
            RECORD.unpack_from(data, off)
        )
        yield Record(
            type=t,
            pid=pid,
            line=_text(line),
            id=_text(ident),
            user=_text(user),
            host=_text(host),
            exit_termination=term,
            exit_status=status,
            session=session,
            time=sec + usec / 1e6,
            address=_address(addr),
        )


def read(path: str, limit_bytes: int = 64 * 1024 * 1024) -> list[Record]:
    """The records of a utmp/wtmp/btmp file; only the newest ``limit_bytes`` are read."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        start = max(0, size - limit_bytes)
        start -= start % RECORD.size
        fh.seek(start)
        return list(parse(fh.read()))
