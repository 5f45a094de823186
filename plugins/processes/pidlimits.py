"""Resource limits of a running process, with how much of each it is using.

``proc.pidlimits`` reads ``/proc/PID/limits`` (the limits the process really has,
which after a service manager, ``ulimit`` and ``prlimit`` may differ from any
config file) and sets the current use next to the limits that can be measured:
open files, the user's tasks against ``Max processes``, address space, data
and stack size, locked memory, and pending signals. ``near_limit`` lists every
limit used at ``threshold`` percent of its soft value or more. Reads only.
"""

from __future__ import annotations

import os
import re
from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    NotFound,
    Plugin,
    Risk,
    action,
)
from agent_core.procfs import kib_value, parse_colon_kv, pids, read
from plugins.processes._common import get_process

PLUGIN = Plugin("proc.pidlimits", domain="processes", requires_files=["/proc/self/limits"])


class Params(msgspec.Struct, forbid_unknown_fields=True):
    pid: int
    threshold: Annotated[float, msgspec.Meta(gt=0, le=100)] = 80.0


class Limit(msgspec.Struct):
    name: str
    soft: int | None
    hard: int | None
    units: str
    used: int | None = None
    used_percent: float | None = None


class Limits(msgspec.Struct):
    pid: int
    name: str
    limits: list[Limit]
    near_limit: list[str]


def parse_limits(text: str) -> list[Limit]:
    """``/proc/PID/limits``: a header, then ``name  soft  hard  [units]`` in columns."""
    out = []
    for line in text.splitlines()[1:]:
        cols = re.split(r"\s{2,}", line.strip())
        if len(cols) < 3:
            continue

        def value(v: str) -> int | None:
            return None if v == "unlimited" else int(v)

        out.append(Limit(name=cols[0], soft=value(cols[1]), hard=value(cols[2]), units=cols[3] if len(cols) > 3 else ""))
    return out


def _user_tasks(uid: str) -> int:
    """Tasks (threads) owned by real uid ``uid``: what RLIMIT_NPROC counts."""
    n = 0
    for pid in pids():
        status = read(f"/proc/{pid}/status")
        if status and parse_colon_kv(status).get("Uid", "").split()[:1] == [uid]:
            n += len(os.listdir(f"/proc/{pid}/task")) if os.path.isdir(f"/proc/{pid}/task") else 1
    return n


def usage(pid: int) -> dict[str, int]:
    status = parse_colon_kv(read(f"/proc/{pid}/status") or "")
    used: dict[str, int] = {}
    try:
        used["Max open files"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    if "Uid" in status:
        used["Max processes"] = _user_tasks(status["Uid"].split()[0])
    for key, limit in (("VmSize", "Max address space"), ("VmData", "Max data size"),
                       ("VmStk", "Max stack size"), ("VmLck", "Max locked memory")):  # fmt: skip
        if key in status:
            used[limit] = kib_value(status[key])
    if "SigQ" in status:
        used["Max pending signals"] = int(status["SigQ"].split("/")[0])
    return used


@action("proc.pidlimits", risk=Risk.READ, timeout=30)
async def limits(ctx: ActionContext, p: Params) -> Limits:
    """Soft/hard limits of ``pid`` with current use of open files, tasks, memory sizes and pending signals."""
    proc = get_process(p.pid)
    text = read(f"/proc/{p.pid}/limits")
    if text is None:
        raise NotFound(f"process {p.pid} exited")
    found = parse_limits(text)
    used = usage(p.pid)
    near = []
    for lim in found:
        if lim.name in used:
            lim.used = used[lim.name]
            if lim.soft:
                lim.used_percent = round(100.0 * lim.used / lim.soft, 2)
                if lim.used_percent >= p.threshold:
                    near.append(lim.name)
    return Limits(pid=p.pid, name=proc.name(), limits=found, near_limit=near)
