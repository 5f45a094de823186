"""CPU utilisation sampled over an interval: user, system, iowait, steal, per CPU.

``hw.cpuusage`` reads ``/proc/stat`` twice, ``interval`` seconds apart, and
reports where CPU time went in between, as percentages of the total and per
logical CPU: user, nice, system, idle, iowait, irq, softirq and steal (time a
hypervisor gave to someone else, the first thing to check on a slow VM), plus
the busy share and the context-switch, interrupt and fork rates. ``per_cpu``
adds one line per CPU, to spot a single saturated core. Reads only.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from plugins.hardware._common import STAT_FIELDS, read_stat

PLUGIN = Plugin("hw.cpuusage", domain="hardware", requires_files=["/proc/stat"])

# guest time is already counted inside user/nice, so it stays out of the total.
TIME_FIELDS = STAT_FIELDS[:8]


class Params(msgspec.Struct, forbid_unknown_fields=True):
    interval: Annotated[float, msgspec.Meta(ge=0.05, le=60)] = 1.0
    per_cpu: bool = False


class Split(msgspec.Struct):
    cpu: str
    busy: float
    user: float
    nice: float
    system: float
    idle: float
    iowait: float
    irq: float
    softirq: float
    steal: float


class CpuUsage(msgspec.Struct):
    interval: float
    total: Split
    cpus: list[Split]
    busiest: str
    context_switches_per_s: float
    interrupts_per_s: float
    forks_per_s: float
    running: int
    blocked: int


def split(name: str, before: list[int], after: list[int]) -> Split:
    """Percentages of each kind of CPU time between two ``/proc/stat`` readings."""
    delta = {f: max(0, after[i] - before[i]) for i, f in enumerate(TIME_FIELDS)}
    total = sum(delta.values()) or 1
    pct = {f: round(100.0 * v / total, 2) for f, v in delta.items()}
    return Split(cpu=name, busy=round(100.0 - pct["idle"] - pct["iowait"], 2), **pct)


@action("hw.cpuusage", risk=Risk.READ, timeout=120)
async def usage(ctx: ActionContext, p: Params) -> CpuUsage:
    """Busy/user/system/iowait/steal percentages over ``interval`` seconds, overall and per CPU."""
    cpus0, scal0 = read_stat()
    await ctx.sleep(p.interval)
    cpus1, scal1 = read_stat()
    per = [split(name, cpus0[name], cpus1[name]) for name in sorted(cpus1, key=lambda n: (len(n), n)) if name != "cpu" and name in cpus0]

    def rate(key: str) -> float:
        return round((scal1.get(key, 0) - scal0.get(key, 0)) / p.interval, 1)

    return CpuUsage(
        interval=p.interval,
        total=split("all", cpus0["cpu"], cpus1["cpu"]),
        cpus=per if p.per_cpu else [],
        busiest=max(per, key=lambda s: s.busy).cpu if per else "",
        context_switches_per_s=rate("ctxt"),
        interrupts_per_s=rate("intr"),
        forks_per_s=rate("processes"),
        running=scal1.get("procs_running", 0),
        blocked=scal1.get("procs_blocked", 0),
    )
