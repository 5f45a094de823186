"""Read the classic syslog file (no journald needed), parsed and filtered.

``log.syslog`` reads ``/var/log/syslog`` or ``/var/log/messages`` (or a path
you give) from the end, parses each line — the traditional
``Mmm dd hh:mm:ss host program[pid]: message`` form and rsyslog's ISO-8601
form — into time, host, program, pid and message, and keeps those that match
a program name, a regular expression and a time window. Lines it cannot parse
are kept with only the message. On a host without a syslog file (journal
only) it answers A003. It only reads.
"""

from __future__ import annotations

import datetime
import os
import re
import time
from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, Unavailable, abs_path, action
from plugins._fs import fs_errors, read_last_lines

from ._common import Entry, parse_line

PLUGIN = Plugin("log.syslog", domain="logs")

DEFAULT_FILES = ("/var/log/syslog", "/var/log/messages")

class SyslogParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str | None = None
    program: str | None = None
    pattern: str | None = None
    since_minutes: Annotated[float, msgspec.Meta(gt=0)] | None = None
    lines: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 200
    scan_bytes: Annotated[int, msgspec.Meta(ge=1024, le=512 * 1024 * 1024)] = 32 * 1024 * 1024


class SyslogResult(msgspec.Struct):
    path: str
    entries: list[Entry]
    scanned: int
    truncated: bool


def _read(path: str, p: SyslogParams, regex: re.Pattern[str] | None, cancel: object) -> SyslogResult:
    with fs_errors(path):
        # Read enough from the end to find ``lines`` matches among the filtered ones.
        raw, _, truncated = read_last_lines(path, 10_000_000, p.scan_bytes)
    now = datetime.datetime.now()
    since = time.time() - p.since_minutes * 60 if p.since_minutes else None
    picked: list[Entry] = []
    for line in reversed(raw):
        entry = parse_line(line, now)
        if since is not None and entry.time is not None and entry.time < since:
            break  # older from here on
        if p.program and entry.program != p.program:
            continue
        if regex and not regex.search(entry.message):
            continue
        picked.append(entry)
        if len(picked) >= p.lines:
            truncated = True
            break
    picked.reverse()
    return SyslogResult(path=path, entries=picked, scanned=len(raw), truncated=truncated)


def default_file() -> str | None:
    return next((f for f in DEFAULT_FILES if os.path.isfile(f)), None)


@action("log.syslog", risk=Risk.READ, timeout=120)
async def syslog(ctx: ActionContext, p: SyslogParams) -> SyslogResult:
    """Parsed, filtered entries from the end of the syslog file (newest last)."""
    if p.path is not None:
        path = abs_path(p.path)
    else:
        found = default_file()
        if found is None:
            raise Unavailable(f"no syslog file here ({' or '.join(DEFAULT_FILES)}); this host logs to the journal only")
        path = found
    try:
        regex = re.compile(p.pattern) if p.pattern else None
    except re.error as exc:
        raise InvalidParams(f"pattern: {exc}") from exc
    return await ctx.to_thread(_read, path, p, regex, cancellable=True)
