"""Find processes by name, command line or executable with a regular expression (pgrep -a).

``proc.find`` matches ``pattern`` (a Python regular expression, searched, not
anchored) against each process's ``name`` (the kernel's 15-character comm),
full ``cmdline`` (the default) or ``exe`` path, optionally only for ``user``,
and returns the matching processes with pid, parent, user, state, memory, CPU
time and command line. The agent's own process is never matched (as pgrep
never matches itself). ``count`` answers "is it running, and how many".
Reads only.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, action
from agent_core.procfs import pgrep
from plugins.processes._common import ProcSummary, summary

PLUGIN = Plugin("proc.find", domain="processes", requires_files=["/proc/self/stat"])


class Params(msgspec.Struct, forbid_unknown_fields=True):
    pattern: str
    match: Literal["cmdline", "name", "exe"] = "cmdline"
    user: str | None = None
    ignore_case: bool = False
    limit: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 200


class Found(msgspec.Struct):
    processes: list[ProcSummary]
    count: int


@action("proc.find", risk=Risk.READ, timeout=30)
async def find(ctx: ActionContext, p: Params) -> Found:
    """Processes whose name, command line or executable matches ``pattern`` (a regex), optionally for one user."""
    import psutil

    if not p.pattern:
        raise InvalidParams("pattern must not be empty")
    try:
        regex = re.compile(p.pattern, re.IGNORECASE if p.ignore_case else 0)
    except re.error as exc:
        raise InvalidParams(f"pattern is not a valid regular expression: {exc}") from exc
    found: list[ProcSummary] = []
    count = 0
    for hit in pgrep(regex, field=p.match):
        try:
            s = summary(psutil.Process(hit.pid))
        except psutil.NoSuchProcess:
            continue
        if s is None or (p.user is not None and s.user != p.user):
            continue
        count += 1
        if len(found) < p.limit:
            found.append(s)
    return Found(processes=found, count=count)
