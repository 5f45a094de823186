"""Memory: total, available, used, cache, slab, commit and hugepages, from /proc/meminfo.

``hw.meminfo`` turns ``/proc/meminfo`` into the figures an operator reasons with
(all in bytes): total, available (what can be allocated without swapping, the
number to alert on), used (total minus available), free, buffers and page
cache, shared memory, reclaimable and unreclaimable slab, dirty and writeback
pages, swap use, and the commit charge against its limit under the
overcommit policy from ``vm.overcommit_memory``. ``raw`` adds every meminfo
field. Reads only.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from agent_core.procfs import kib_value, parse_colon_kv, read, read_int

PLUGIN = Plugin("hw.meminfo", domain="hardware", requires_files=["/proc/meminfo"])

OVERCOMMIT = {0: "heuristic", 1: "always", 2: "never"}


class Params(msgspec.Struct, forbid_unknown_fields=True):
    raw: bool = False


class MemInfo(msgspec.Struct):
    total: int
    available: int
    used: int
    used_percent: float
    free: int
    buffers: int
    cached: int
    shared: int
    slab_reclaimable: int
    slab_unreclaimable: int
    dirty: int
    writeback: int
    anon: int
    mlocked: int
    swap_total: int
    swap_free: int
    swap_used: int
    swap_cached: int
    committed: int
    commit_limit: int
    overcommit: str
    hugepages_total: int
    hugepages_free: int
    hugepage_size: int
    raw: dict[str, int] = {}


def meminfo() -> dict[str, int]:
    """``/proc/meminfo`` with every value in bytes (``HugePages_*`` stay page counts)."""
    return {key: kib_value(value) for key, value in parse_colon_kv(read("/proc/meminfo") or "").items()}


@action("hw.meminfo", risk=Risk.READ, timeout=10)
async def info(ctx: ActionContext, p: Params) -> MemInfo:
    """Total, available, used, cache, slab, dirty, swap and commit figures in bytes."""
    m = meminfo()
    total = m.get("MemTotal", 0)
    # MemAvailable exists since 3.14; older kernels get the classic free+buffers+cache estimate.
    available = m.get("MemAvailable", m.get("MemFree", 0) + m.get("Buffers", 0) + m.get("Cached", 0))
    return MemInfo(
        total=total,
        available=available,
        used=total - available,
        used_percent=round(100.0 * (total - available) / total, 2) if total else 0.0,
        free=m.get("MemFree", 0),
        buffers=m.get("Buffers", 0),
        # As procps `free` counts it: page cache plus reclaimable slab.
        cached=m.get("Cached", 0) + m.get("SReclaimable", 0),
        shared=m.get("Shmem", 0),
        slab_reclaimable=m.get("SReclaimable", 0),
        slab_unreclaimable=m.get("SUnreclaim", 0),
        dirty=m.get("Dirty", 0),
        writeback=m.get("Writeback", 0),
        anon=m.get("AnonPages", 0),
        mlocked=m.get("Mlocked", 0),
        swap_total=m.get("SwapTotal", 0),
        swap_free=m.get("SwapFree", 0),
        swap_used=m.get("SwapTotal", 0) - m.get("SwapFree", 0),
        swap_cached=m.get("SwapCached", 0),
        committed=m.get("Committed_AS", 0),
        commit_limit=m.get("CommitLimit", 0),
        overcommit=OVERCOMMIT.get(read_int("/proc/sys/vm/overcommit_memory") or 0, "unknown"),
        hugepages_total=m.get("HugePages_Total", 0),
        hugepages_free=m.get("HugePages_Free", 0),
        hugepage_size=m.get("Hugepagesize", 0),
        raw=m if p.raw else {},
    )
