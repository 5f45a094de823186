"""Read a Docker container's recent log lines, stdout and stderr apart, with timestamps.

``container.docker.logs`` reads the last ``tail`` lines of one container from the Docker
Engine API (``GET /containers/{id}/logs`` with timestamps, both streams,
demultiplexed) and returns them in time order, each with the stream it
came from (stdout or stderr) and its timestamp, optionally only those
matching a regular expression. Lines are capped at ``tail``; nothing is
followed. ``since`` takes a duration (``10m``, ``1h30m``), an RFC 3339 time or
unix seconds. Needs a running daemon (no docker CLI); otherwise A003. It only
reads.
"""

from __future__ import annotations

import re
import struct
import time
from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, action

from ._common import check_ref, docker_api, docker_check, parse_time

PLUGIN = Plugin("container.docker.logs", domain="containers", check=docker_check)

# docker's --since: a duration (10m, 1h30m) or a timestamp (RFC 3339 or unix seconds).
_SINCE = re.compile(r"^(\d+(\.\d+)?[smh])+$|^\d{4}-\d\d-\d\d(T[0-9:.]+(Z|[+-]\d\d:\d\d)?)?$|^\d+(\.\d+)?$")


class LogsParams(msgspec.Struct, forbid_unknown_fields=True):
    container: str
    tail: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 200
    since: str | None = None
    pattern: str | None = None


class LogLine(msgspec.Struct):
    stream: str
    time: float | None
    text: str


_UNIT = {"s": 1, "m": 60, "h": 3600}


def since_epoch(value: str, now: float | None = None) -> int:
    """``10m`` / ``1h30m`` (before now), an RFC 3339 time, or unix seconds -> unix seconds."""
    if not _SINCE.match(value):
        raise InvalidParams(f"since: {value!r} is not a duration like '10m' or a timestamp")
    if value[-1] in _UNIT:
        seconds = sum(float(n) * _UNIT[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)([smh])", value))
        return int((now if now is not None else time.time()) - seconds)
    if "-" in value:
        stamp = parse_time(value if "T" in value else value + "T00:00:00Z")
        if stamp is None:
            raise InvalidParams(f"since: {value!r} is not a valid time")
        return int(stamp)
    return int(float(value))


def demux(data: bytes, tty: bool) -> tuple[str, str]:
    """The Engine API's log stream as (stdout, stderr) text.

    Without a TTY every frame is an 8-byte header (stream 1 or 2, three zero bytes,
    a big-endian length) and its payload; with a TTY it is one raw stdout stream.
    """
    if tty:
        return data.decode(errors="replace"), ""
    parts: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
    pos = 0
    while pos + 8 <= len(data):
        stream, size = data[pos], struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        parts.setdefault(stream, bytearray()).extend(data[pos + 8 : pos + 8 + size])
        pos += 8 + size
    return parts[1].decode(errors="replace"), parts[2].decode(errors="replace")


def parse_logs(stdout: str, stderr: str) -> list[LogLine]:
    """Timestamped lines of both streams, merged by time."""
    lines = []
    for stream, text in (("stdout", stdout), ("stderr", stderr)):
        for raw in text.splitlines():
            stamp, sep, rest = raw.partition(" ")
            when = parse_time(stamp) if sep else None
            lines.append(LogLine(stream=stream, time=when, text=rest if when is not None else raw))
    lines.sort(key=lambda x: x.time if x.time is not None else 0.0)
    return lines


@action("container.docker.logs", risk=Risk.READ, timeout=60)
async def logs(ctx: ActionContext, p: LogsParams) -> list[LogLine]:
    """The last ``tail`` log lines of a container, stdout and stderr, in time order."""
    container = check_ref(p.container)
    since = since_epoch(p.since) if p.since else None
    try:
        regex = re.compile(p.pattern) if p.pattern else None
    except re.error as exc:
        raise InvalidParams(f"pattern: {exc}") from exc
    doc = await docker_api(f"/containers/{container}/json")  # A017 for an unknown container
    query = {"stdout": "1", "stderr": "1", "timestamps": "1", "tail": str(p.tail), "since": since}
    data = await docker_api(f"/containers/{container}/logs", query, raw=True)
    lines = parse_logs(*demux(data, bool((doc.get("Config") or {}).get("Tty"))))
    if regex is not None:
        lines = [x for x in lines if regex.search(x.text)]
    return lines
