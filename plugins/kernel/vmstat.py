"""Virtual memory activity rates: page faults, swapping, reclaim, compaction, OOM kills.

``kernel.vmstat`` samples ``/proc/vmstat`` twice, ``interval`` seconds apart,
and turns the counters that describe memory pressure into per-second rates:
minor and major page faults, pages swapped in and out, pages scanned and
stolen by kswapd and by direct reclaim (direct reclaim stalls the
application), allocation stalls, compaction stalls, THP allocations and
fallbacks, and OOM kills. ``counters`` adds any other vmstat counters by
name. ``direct_reclaim`` and ``swapping`` summarise the two states an operator
acts on. Reads only.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from agent_core.procfs import read

PLUGIN = Plugin("kernel.vmstat", domain="kernel", requires_files=["/proc/vmstat"])

DEFAULT = (
    "pgfault", "pgmajfault", "pswpin", "pswpout", "pgscan_kswapd", "pgscan_direct", "pgsteal_kswapd",
    "pgsteal_direct", "allocstall_normal", "allocstall_movable", "compact_stall", "thp_fault_alloc",
    "thp_fault_fallback", "oom_kill", "pgpgin", "pgpgout",
)  # fmt: skip


class Params(msgspec.Struct, forbid_unknown_fields=True):
    interval: Annotated[float, msgspec.Meta(ge=0.05, le=60)] = 1.0
    counters: list[str] = []


class VmStat(msgspec.Struct):
    interval: float
    rates: dict[str, float]
    totals: dict[str, int]
    direct_reclaim: bool
    swapping: bool
    unknown: list[str]


def read_vmstat() -> dict[str, int]:
    out = {}
    for line in (read("/proc/vmstat") or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


@action("kernel.vmstat", risk=Risk.READ, timeout=120)
async def vmstat(ctx: ActionContext, p: Params) -> VmStat:
    """Per-second rates of faults, swapping, reclaim, stalls, compaction and OOM kills over ``interval``."""
    before = read_vmstat()
    await ctx.sleep(p.interval)
    after = read_vmstat()
    names = list(dict.fromkeys([*DEFAULT, *p.counters]))
    present = [n for n in names if n in after]
    rates = {n: round((after[n] - before.get(n, after[n])) / p.interval, 1) for n in present}
    return VmStat(
        interval=p.interval,
        rates=rates,
        totals={n: after[n] for n in present},
        direct_reclaim=rates.get("pgscan_direct", 0) > 0 or rates.get("allocstall_normal", 0) > 0,
        swapping=rates.get("pswpin", 0) > 0 and rates.get("pswpout", 0) > 0,
        unknown=[n for n in p.counters if n not in after],
    )
