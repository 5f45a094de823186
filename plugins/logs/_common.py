"""Shared pieces of the log plugins: rotated siblings, compressed readers, syslog lines.

Not a plugin. A log ``/var/log/app.log`` is usually followed by its rotated
generations ``app.log.1``, ``app.log.2.gz``, ``app.log-20240101`` ...; these
helpers find them and open any of them as text.
"""

from __future__ import annotations

import bz2
import datetime
import gzip
import io
import lzma
import os
import re
import time
from collections.abc import Callable
from typing import IO, Any

import msgspec

_BSD = re.compile(r"^(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (?P<host>\S+) (?P<rest>.*)$")
_ISO = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) (?P<host>\S+) (?P<rest>.*)$")
_TAG = re.compile(r"^(?P<prog>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)$")


_COMPRESSED: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}

#: What a rotation adds after the live name: ``.1``, ``.2.gz``, ``-20240101``, ``.old`` ...
ROTATED_SUFFIX = re.compile(r"^(\.\d+|-\d{8}(\d{2})?|\.old|\.bak)(\.(gz|bz2|xz|zst))?$")


def family(name: str) -> str:
    """The live log name a (possibly rotated) file name belongs to."""
    for i in range(len(name)):
        if name[i] in ".-" and ROTATED_SUFFIX.match(name[i:]):
            return name[:i]
    return name


def rotated_siblings(path: str) -> list[str]:
    """Rotated generations of ``path``, oldest first (highest number / earliest date)."""
    directory, base = os.path.split(path)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = []
    for name in names:
        if name != base and name.startswith(base) and ROTATED_SUFFIX.match(name[len(base) :]):
            found.append(name)

    def age_key(name: str) -> tuple[int, str]:
        rest = name[len(base) :]
        m = re.match(r"^\.(\d+)", rest)
        # Numbered generations: a higher number is older. Dated ones sort by date.
        return (0, f"{10**9 - int(m.group(1)):010d}") if m else (1, rest)

    return [os.path.join(directory, n) for n in sorted(found, key=age_key)]


def open_text(path: str) -> IO[str]:
    """Open a log (plain or .gz/.bz2/.xz) for reading as UTF-8 text, errors replaced."""
    for ext, opener in _COMPRESSED.items():
        if path.endswith(ext):
            return io.TextIOWrapper(opener(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


class Entry(msgspec.Struct, omit_defaults=True):
    message: str
    time: float | None = None
    host: str = ""
    program: str = ""
    pid: int | None = None


def parse_line(line: str, now: datetime.datetime) -> Entry:
    """One syslog line as an :class:`Entry`; unknown formats keep just the message."""
    m = _ISO.match(line)
    if m:
        stamp = datetime.datetime.fromisoformat(m.group("ts").replace("Z", "+00:00"))
        when = stamp.timestamp()
    else:
        m = _BSD.match(line)
        if not m:
            return Entry(message=line)
        # The classic format has no year: take this year, or last year if that is in the future.
        stamp = datetime.datetime.strptime(f"{now.year} {m.group('ts')}", "%Y %b %d %H:%M:%S")
        if stamp > now + datetime.timedelta(days=1):
            stamp = stamp.replace(year=now.year - 1)
        when = time.mktime(stamp.timetuple())
    tag = _TAG.match(m.group("rest"))
    if not tag:
        return Entry(message=m.group("rest"), time=when, host=m.group("host"))
    return Entry(
        message=tag.group("msg"),
        time=when,
        host=m.group("host"),
        program=tag.group("prog"),
        pid=int(tag.group("pid")) if tag.group("pid") else None,
    )
