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

import os
import re
from typing import Literal

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action
from plugins.processes._common import ProcSummary, summary

PLUGIN = Plugin("proc.find", description=__doc__.splitlines()[0], domain="processes", requires_files=["/proc/self/stat"])


class Params(msgspec.Struct, forbid_unknown_fields=True):
    pattern: str
    match: Literal["cmdline", "name", "exe"] = "cmdline"
    user: str | None = None
    ignore_case: bool = False
    limit: int = 200


class Found(msgspec.Struct):
    processes: list[ProcSummary]
    count: int


def _subject(proc: object, match: str) -> str:
    import psutil

    try:
        if match == "name":
            return proc.name()  # type: ignore[attr-defined]
        if match == "exe":
            return proc.exe()  # type: ignore[attr-defined]
        return " ".join(proc.cmdline())  # type: ignore[attr-defined]
    except (psutil.AccessDenied, psutil.ZombieProcess, psutil.NoSuchProcess):
        return ""


@action("proc.find", risk=Risk.READ, timeout=30)
async def find(ctx: ActionContext, p: Params) -> Found:
    """Processes whose name, command line or executable matches ``pattern`` (a regex), optionally for one user."""
    import psutil

    if not p.pattern:
        raise ActionError("pattern must not be empty", code=ErrorCode.A002)
    if not 1 <= p.limit <= 100_000:
        raise ActionError("limit must be 1..100000", code=ErrorCode.A002)
    try:
        regex = re.compile(p.pattern, re.IGNORECASE if p.ignore_case else 0)
    except re.error as exc:
        raise ActionError(f"pattern is not a valid regular expression: {exc}", code=ErrorCode.A002) from exc
    me = os.getpid()
    found: list[ProcSummary] = []
    count = 0
    for proc in psutil.process_iter():
        if proc.pid == me or not regex.search(_subject(proc, p.match)):
            continue
        s = summary(proc)
        if s is None or (p.user is not None and s.user != p.user):
            continue
        count += 1
        if len(found) < p.limit:
            found.append(s)
    return Found(processes=found, count=count)
