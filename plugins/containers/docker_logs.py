"""Read a Docker container's recent log lines, stdout and stderr apart, with timestamps.

``docker.logs`` runs ``docker logs --timestamps --tail N [--since ...]`` for
one container and returns its lines in time order, each with the stream it
came from (stdout or stderr) and its timestamp, optionally only those
matching a regular expression. Lines are capped at ``tail``; nothing is
followed. Needs the docker CLI and a running daemon; otherwise A003. It only
reads.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from plugins.files._common import bad

from ._common import check_ref, docker_check, parse_time, raise_for

PLUGIN = Plugin("docker.logs", description=__doc__.splitlines()[0], domain="containers", requires=["docker"], check=docker_check)

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


def parse_logs(stdout: str, stderr: str) -> list[LogLine]:
    """``docker logs --timestamps`` output of both streams, merged by time."""
    lines = []
    for stream, text in (("stdout", stdout), ("stderr", stderr)):
        for raw in text.splitlines():
            stamp, sep, rest = raw.partition(" ")
            when = parse_time(stamp) if sep else None
            lines.append(LogLine(stream=stream, time=when, text=rest if when is not None else raw))
    lines.sort(key=lambda x: x.time if x.time is not None else 0.0)
    return lines


@action("docker.logs", risk=Risk.READ, timeout=60)
async def logs(ctx: ActionContext, p: LogsParams) -> list[LogLine]:
    """The last ``tail`` log lines of a container, stdout and stderr, in time order."""
    container = check_ref(p.container)
    argv = ["docker", "logs", "--timestamps", "--tail", str(p.tail)]
    if p.since:
        if not _SINCE.match(p.since):
            raise bad(f"since: {p.since!r} is not a duration like '10m' or a timestamp")
        argv += ["--since", p.since]
    try:
        regex = re.compile(p.pattern) if p.pattern else None
    except re.error as exc:
        raise bad(f"pattern: {exc}") from exc
    argv.append(container)
    # Not run_cli: the container's own stderr stream arrives on docker's stderr.
    res = await ctx.run(argv)
    if res.exit_code != 0:
        raise_for(argv, res)
    lines = parse_logs(res.stdout, res.stderr)
    if regex is not None:
        lines = [x for x in lines if regex.search(x.text)]
    return lines
