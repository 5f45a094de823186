"""How long the host has been up, how idle it was, and its load against its CPUs.

``sys.uptime`` reads ``/proc/uptime``, ``/proc/loadavg`` and ``/proc/stat``: the
time since boot, the CPU idle share since boot, the 1/5/15-minute load averages
(also divided by the number of CPUs, the figure that says whether a host is
overloaded), the tasks runnable right now and the number of logged-in sessions.
Reads only; needs nothing but procfs.
"""

from __future__ import annotations

import os
import time

import msgspec

from agent_core import ActionContext, NoParams, Plugin, Risk, action
from agent_core.procfs import read

PLUGIN = Plugin("sys.uptime", domain="system")


class Uptime(msgspec.Struct):
    uptime: float
    uptime_text: str
    boot_time: float
    idle_ratio: float
    cpus: int
    load1: float
    load5: float
    load15: float
    load1_per_cpu: float
    runnable: int
    tasks: int
    last_pid: int
    sessions: int


def human_duration(seconds: float) -> str:
    """``93784`` -> ``"1d 2h 3m"``; under a minute, seconds."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    return " ".join(parts)


def _sessions() -> int:
    import psutil

    try:
        return len(psutil.users())
    except (OSError, RuntimeError):
        return 0


@action("sys.uptime", risk=Risk.READ, timeout=10)
async def uptime(ctx: ActionContext, p: NoParams) -> Uptime:
    """Uptime, boot time, idle share since boot, load averages (absolute and per CPU) and runnable tasks."""
    up_s, idle_s = (float(x) for x in (read("/proc/uptime") or "0 0").split()[:2])
    fields = (read("/proc/loadavg") or "0 0 0 0/0 0").split()
    running, _, total = fields[3].partition("/")
    cpus = os.cpu_count() or 1
    btime = next(
        (float(line.split()[1]) for line in (read("/proc/stat") or "").splitlines() if line.startswith("btime ")),
        time.time() - up_s,
    )
    load1, load5, load15 = (float(x) for x in fields[:3])
    return Uptime(
        uptime=up_s,
        uptime_text=human_duration(up_s),
        boot_time=btime,
        # /proc/uptime's idle figure is summed over all CPUs.
        idle_ratio=round(min(1.0, idle_s / (up_s * cpus)) if up_s > 0 else 0.0, 4),
        cpus=cpus,
        load1=load1,
        load5=load5,
        load15=load15,
        load1_per_cpu=round(load1 / cpus, 3),
        runnable=int(running),
        tasks=int(total),
        last_pid=int(fields[4]),
        sessions=_sessions(),
    )
