"""Top processes by CPU or memory, sampled over an interval, with the host's totals.

``proc.top`` measures every process's CPU use over ``interval`` seconds (100%
is one full core), its resident memory and share of RAM, and returns the
``count`` heaviest by ``sort`` (``cpu`` or ``mem``) with user, state and
command, next to the host's CPU busy share, load averages and memory use
over the same interval: the view to open when a host is slow. Reads only.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

import msgspec

from agent_core import ActionContext, Plugin, Risk, action

PLUGIN = Plugin("proc.top", domain="processes", requires_files=["/proc/self/stat"])


class Params(msgspec.Struct, forbid_unknown_fields=True):
    interval: Annotated[float, msgspec.Meta(ge=0.1, le=60)] = 1.0
    sort: Literal["cpu", "mem"] = "cpu"
    count: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 15


class TopProcess(msgspec.Struct):
    pid: int
    name: str
    user: str
    state: str
    cpu_percent: float
    rss: int
    mem_percent: float
    threads: int
    cmdline: str


class Top(msgspec.Struct):
    interval: float
    cpu_percent: float
    cpus: int
    load: tuple[float, float, float]
    mem_used_percent: float
    processes: list[TopProcess]


def busy_percent(before: object, after: object) -> float:
    """Share of CPU time not idle (nor waiting for I/O) between two ``cpu_times()`` readings."""
    fields = [f for f in ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal") if hasattr(after, f)]
    delta = {f: getattr(after, f) - getattr(before, f) for f in fields}
    total = sum(delta.values())
    idle = delta.get("idle", 0.0) + delta.get("iowait", 0.0)
    return round(100.0 * (total - idle) / total, 1) if total > 0 else 0.0


@action("proc.top", risk=Risk.READ, timeout=120)
async def top(ctx: ActionContext, p: Params) -> Top:
    """The heaviest processes by CPU (sampled over ``interval``) or memory, with host CPU, load and memory."""
    import psutil

    procs = {}
    for proc in psutil.process_iter():
        try:
            proc.cpu_percent(None)  # first call primes the per-process counters
            procs[proc.pid] = proc
        except psutil.Error:
            continue
    # Host CPU from our own two readings: psutil.cpu_percent(None) keeps one global
    # "last sample" that the agent's throttle also relies on.
    before = psutil.cpu_times()
    await ctx.sleep(p.interval)
    after = psutil.cpu_times()
    host_cpu = busy_percent(before, after)
    total_mem = psutil.virtual_memory()
    rows = []
    for proc in procs.values():
        try:
            with proc.oneshot():
                rss = proc.memory_info().rss
                try:
                    cmd = " ".join(proc.cmdline())[:512]
                except (psutil.AccessDenied, psutil.ZombieProcess):
                    cmd = ""
                try:
                    user = proc.username()
                except (KeyError, psutil.AccessDenied):
                    user = "?"
                rows.append(
                    TopProcess(
                        pid=proc.pid, name=proc.name(), user=user, state=proc.status(),
                        cpu_percent=round(proc.cpu_percent(None), 1), rss=rss,
                        mem_percent=round(100.0 * rss / total_mem.total, 2), threads=proc.num_threads(), cmdline=cmd,
                    )  # fmt: skip
                )
        except psutil.Error:
            continue  # exited during the sample
    rows.sort(key=(lambda r: (-r.cpu_percent, -r.rss)) if p.sort == "cpu" else (lambda r: (-r.rss, -r.cpu_percent)))
    return Top(
        interval=p.interval,
        cpu_percent=host_cpu,
        cpus=os.cpu_count() or 1,
        load=os.getloadavg(),
        mem_used_percent=total_mem.percent,
        processes=rows[: p.count],
    )
