"""Tail the kernel log: recent kernel messages filtered by level, facility, text and age.

``sys.dmesg`` reads the kernel ring buffer record by record from ``/dev/kmsg``
(without consuming it, and without the ``dmesg`` program), falling back to
``dmesg -r`` where ``/dev/kmsg`` cannot be opened. Each record comes back with
its sequence number, seconds since boot, wall-clock time, level and facility,
so "what did the kernel say about this disk in the last hour" is one call:
``{"level": "warning", "match": "sda", "since_seconds": 3600}``. Reads only;
``kernel.dmesg_restrict`` may require root.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from typing import Annotated

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, InvalidParams, Plugin, Risk, action
from agent_core.procfs import read

PLUGIN = Plugin("sys.dmesg", domain="system")

KMSG = "/dev/kmsg"
LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
    "uucp", "cron", "authpriv", "ftp", "res0", "res1", "res2", "res3",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip
_RAW = re.compile(r"^<(\d+)>\[\s*(\d+\.\d+)\]\s?(.*)$")


class Params(msgspec.Struct, forbid_unknown_fields=True):
    lines: Annotated[int, msgspec.Meta(ge=1, le=10000)] = 100
    level: str = "debug"
    facility: str | None = None
    match: str | None = None
    since_seconds: Annotated[float, msgspec.Meta(gt=0)] | None = None


class Entry(msgspec.Struct):
    seq: int
    seconds: float
    time: float
    level: str
    facility: str
    message: str


class Dmesg(msgspec.Struct):
    source: str
    entries: list[Entry]
    matched: int
    scanned: int


def parse_kmsg_record(record: str) -> tuple[int, int, float, str] | None:
    """``"pri,seq,usec,flags[,...];message\\n KEY=value..."`` to (pri, seq, seconds, message)."""
    head, sep, body = record.partition(";")
    if not sep:
        return None
    fields = head.split(",")
    try:
        pri, seq, usec = int(fields[0]), int(fields[1]), int(fields[2])
    except (ValueError, IndexError):
        return None
    message = body.split("\n", 1)[0]  # continuation lines carry device metadata
    return pri, seq, usec / 1e6, message


def read_kmsg() -> list[tuple[int, int, float, str]]:
    """Every record still in the ring buffer, oldest first."""
    records = []
    fd = os.open(KMSG, os.O_RDONLY | os.O_NONBLOCK)
    try:
        while True:
            try:
                chunk = os.read(fd, 16384)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # the record we were at was overwritten
                    continue
                raise
            if not chunk:
                break
            parsed = parse_kmsg_record(chunk.decode(errors="replace"))
            if parsed:
                records.append(parsed)
    finally:
        os.close(fd)
    return records


def parse_dmesg_raw(text: str) -> list[tuple[int, int, float, str]]:
    """``dmesg -r`` lines (``<pri>[seconds] message``); sequence numbers are synthesized."""
    out = []
    for n, line in enumerate(text.splitlines()):
        m = _RAW.match(line)
        if m:
            out.append((int(m.group(1)), n, float(m.group(2)), m.group(3)))
    return out


@action("sys.dmesg", risk=Risk.READ, timeout=20)
async def dmesg(ctx: ActionContext, p: Params) -> Dmesg:
    """The last ``lines`` kernel messages at ``level`` or more severe, optionally by facility, regex and age."""
    if p.level not in LEVELS:
        raise InvalidParams(f"level must be one of {', '.join(LEVELS)}")
    if p.facility is not None and p.facility not in FACILITIES:
        raise InvalidParams(f"facility must be one of {', '.join(FACILITIES)}")
    try:
        pattern = re.compile(p.match, re.IGNORECASE) if p.match else None
    except re.error as exc:
        raise InvalidParams(f"match is not a valid regular expression: {exc}") from exc

    try:
        records, source = read_kmsg(), KMSG
    except OSError as exc:
        records, source = [], f"{KMSG}: {exc.strerror}"
    if not records and source != KMSG:
        if not shutil.which("dmesg"):
            raise ActionError(f"cannot read {source}", code=ErrorCode.A016)
        res = await ctx.run(["dmesg", "-r"])
        if res.exit_code != 0:
            raise ActionError(f"dmesg -r: {res.stderr.strip()}", code=ErrorCode.A016, data=res)
        records, source = parse_dmesg_raw(res.stdout), "dmesg -r"

    uptime = float((read("/proc/uptime") or "0").split()[0])
    btime = next(
        (float(line.split()[1]) for line in (read("/proc/stat") or "").splitlines() if line.startswith("btime ")),
        0.0,
    )
    max_level = LEVELS.index(p.level)
    entries = []
    for pri, seq, seconds, message in records:
        level, facility = pri & 7, pri >> 3
        if level > max_level:
            continue
        if p.facility is not None and FACILITIES[facility] != p.facility:
            continue
        if p.since_seconds is not None and seconds < uptime - p.since_seconds:
            continue
        if pattern is not None and not pattern.search(message):
            continue
        entries.append(
            Entry(
                seq=seq,
                seconds=seconds,
                time=round(btime + seconds, 6),
                level=LEVELS[level],
                facility=FACILITIES[facility] if facility < len(FACILITIES) else str(facility),
                message=message,
            )
        )
    return Dmesg(source=source, entries=entries[-p.lines:], matched=len(entries), scanned=len(records))
