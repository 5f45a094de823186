"""Read the systemd journal: last entries of a unit, priority, time window, grep.

``svc.journal`` runs ``journalctl -o json`` with bounded output and returns
structured entries: time, unit, syslog identifier, PID, priority, host and
message. Filter by unit, identifier, maximum priority (``err`` shows emerg to
err), a time window (``since``/``until`` in any form journalctl accepts, such
as ``-1h`` or ``2024-05-01 10:00``), a pattern, or the current boot. Page
through a long journal with the returned ``cursor``. It can also read journal
files copied from another machine (``file`` / ``directory``). Needs
``journalctl``; read only.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Annotated, Any

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

from ._systemd import unit_name

PLUGIN = Plugin(
    "svc.journal", domain="services", requires=["journalctl"]
)

PRIORITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_IDENT = re.compile(r"^[A-Za-z0-9_.@:/-]{1,128}$")
_TIME = re.compile(r"^[A-Za-z0-9 :.+@-]{1,64}$")


class JournalParams(msgspec.Struct, forbid_unknown_fields=True):
    unit: str | None = None
    identifier: str | None = None
    """``SYSLOG_IDENTIFIER`` (``-t``), e.g. ``sshd`` or ``kernel``."""
    priority: str | None = None
    """Show this priority and more severe: a name (``err``) or a number 0-7."""
    since: str | None = None
    until: str | None = None
    grep: str | None = None
    boot: bool = False
    """Only the current boot."""
    lines: Annotated[int, msgspec.Meta(ge=1, le=10000)] = 100
    after_cursor: str | None = None
    file: str | None = None
    """Read this journal file instead of the system journal."""
    directory: str | None = None


class Entry(msgspec.Struct):
    time: str
    """ISO 8601, UTC."""
    timestamp: float
    unit: str
    identifier: str
    pid: int | None
    priority: int | None
    hostname: str
    message: str


class Journal(msgspec.Struct):
    entries: list[Entry]
    cursor: str
    """Pass as ``after_cursor`` to read the entries that follow."""
    note: str = ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):  # binary field: a list of byte values
        if value and isinstance(value[0], int):
            return bytes(value).decode("utf-8", "replace")
        return " ".join(_text(v) for v in value)
    return str(value)


def _int(value: Any) -> int | None:
    try:
        return int(_text(value))
    except ValueError:
        return None


def to_entry(rec: dict[str, Any]) -> Entry:
    usec = _int(rec.get("__REALTIME_TIMESTAMP")) or 0
    ts = usec / 1e6
    return Entry(
        time=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{usec % 1_000_000:06d}Z",
        timestamp=ts,
        unit=_text(rec.get("_SYSTEMD_UNIT") or rec.get("UNIT")),
        identifier=_text(rec.get("SYSLOG_IDENTIFIER") or rec.get("_COMM")),
        pid=_int(rec.get("_PID") or rec.get("SYSLOG_PID")),
        priority=_int(rec.get("PRIORITY")),
        hostname=_text(rec.get("_HOSTNAME")),
        message=_text(rec.get("MESSAGE")),
    )


def _priority(value: str) -> str:
    if value.isdigit() and 0 <= int(value) <= 7:
        return value
    if value.lower() in PRIORITIES:
        return value.lower()
    raise InvalidParams(f"priority: {value!r} is not 0-7 or one of {', '.join(PRIORITIES)}")


def _abs(value: str, field: str, want_dir: bool) -> str:
    if not os.path.isabs(value):
        raise InvalidParams(f"{field}: {value!r} is not an absolute path")
    if not (os.path.isdir(value) if want_dir else os.path.isfile(value)):
        raise NotFound(f"{field}: {value} does not exist")
    return value


def build_argv(p: JournalParams) -> list[str]:
    argv = ["journalctl", "--no-pager", "--all", "-o", "json", "-n", str(p.lines)]
    if p.file and p.directory:
        raise InvalidParams("give file or directory, not both")
    if p.file:
        argv.append(f"--file={_abs(p.file, 'file', False)}")
    if p.directory:
        argv.append(f"--directory={_abs(p.directory, 'directory', True)}")
    if p.unit:
        argv.append(f"--unit={unit_name(p.unit)}")
    if p.identifier:
        if not _IDENT.match(p.identifier):
            raise InvalidParams(f"identifier: {p.identifier!r} is not a syslog identifier")
        argv.append(f"--identifier={p.identifier}")
    if p.priority:
        argv.append(f"--priority={_priority(p.priority)}")
    for field, value in (("since", p.since), ("until", p.until)):
        if value is not None:
            if not _TIME.match(value):
                raise InvalidParams(f"{field}: {value!r} is not a time journalctl understands")
            argv.append(f"--{field}={value}")
    if p.grep:
        if len(p.grep) > 512 or "\n" in p.grep:
            raise InvalidParams("grep: must be one line of at most 512 characters")
        argv.append(f"--grep={p.grep}")
    if p.boot:
        argv.append("--boot")
    if p.after_cursor:
        if "\n" in p.after_cursor or len(p.after_cursor) > 512:
            raise InvalidParams("after_cursor: not a journal cursor")
        argv.append(f"--after-cursor={p.after_cursor}")
    return argv


@action("svc.journal", risk=Risk.READ, timeout=60)
async def journal(ctx: ActionContext, p: JournalParams) -> Journal:
    """Journal entries (time, unit, identifier, PID, priority, message), filtered and bounded."""
    argv = build_argv(p)
    res = await ctx.run(argv, c_locale=True)
    err = res.stderr.strip()
    if res.exit_code != 0 and not (p.grep and res.exit_code == 1 and not res.stdout.strip()):
        if "Failed to parse" in err:
            raise InvalidParams(err)
        if "permission" in err.lower():
            raise ActionError(err, code=ErrorCode.A016)
        raise ActionError(f"journalctl failed: {err}", code=ErrorCode.A008, data=res)
    entries: list[Entry] = []
    cursor = ""
    for line in res.stdout.splitlines():
        if not line.startswith("{"):
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut by the output cap
        entries.append(to_entry(rec))
        cursor = _text(rec.get("__CURSOR"))
    note = "no journal files found" if "No journal files" in err else ""
    return Journal(entries=entries, cursor=cursor or (p.after_cursor or ""), note=note)
