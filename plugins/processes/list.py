"""List processes like ps: pid, parent, user, state, memory, CPU time, threads and command line.

``proc.list`` returns every process (or those matching ``user``, the exact
``name``, or ``state`` such as ``sleeping``, ``running``, ``disk-sleep``,
``zombie``) with parent pid, user, state, resident memory, CPU time used so
far, thread count, nice value, start time and command line (capped at 1 KiB),
sorted by ``sort`` (``pid``, ``rss``, ``cpu_time``, ``started``) and cut at
``limit``. ``total`` is the number of processes on the host, ``matched`` the
number that passed the filters. Reads only.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, action
from plugins.processes._common import ProcSummary, summary

PLUGIN = Plugin("proc.list", domain="processes", requires_files=["/proc/self/stat"])

STATES = ("running", "sleeping", "disk-sleep", "stopped", "tracing-stop", "zombie", "dead", "idle", "parked", "wake-kill", "waking")


class Params(msgspec.Struct, forbid_unknown_fields=True):
    user: str | None = None
    name: str | None = None
    state: str | None = None
    sort: Literal["pid", "rss", "cpu_time", "started"] = "pid"
    limit: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 500


class ProcessList(msgspec.Struct):
    processes: list[ProcSummary]
    total: int
    matched: int


@action("proc.list", risk=Risk.READ, timeout=30)
async def list_processes(ctx: ActionContext, p: Params) -> ProcessList:
    """Processes with parent, user, state, RSS, CPU time, threads and command line; filtered and sorted."""
    import psutil

    if p.state is not None and p.state not in STATES:
        raise InvalidParams(f"state must be one of {', '.join(STATES)}")
    total = 0
    found: list[ProcSummary] = []
    for proc in psutil.process_iter():
        total += 1
        s = summary(proc)
        if s is None:
            continue
        if (p.user is not None and s.user != p.user) or (p.name is not None and s.name != p.name):
            continue
        if p.state is not None and s.state != p.state:
            continue
        found.append(s)
    key = {"pid": lambda s: s.pid, "rss": lambda s: -s.rss, "cpu_time": lambda s: -s.cpu_time, "started": lambda s: -s.started}[p.sort]
    found.sort(key=key)
    return ProcessList(processes=found[: p.limit], total=total, matched=len(found))
