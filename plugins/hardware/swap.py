"""Swap devices, zram and zswap, swap activity, and the processes that are swapped out.

``hw.swap`` lists the active swap areas from ``/proc/swaps`` (file or
partition, size, used, priority), zram devices with their compression ratio,
whether zswap is on, ``vm.swappiness``, the swap-in/swap-out page counters from
``/proc/vmstat`` (sampled over ``interval`` seconds when given, to tell old
swap from active thrashing), and the ``top`` processes by swapped-out memory
(``VmSwap``). Reads only.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from agent_core.procfs import kib_value, listdir, parse_colon_kv, pids, read, read_int, selected

PLUGIN = Plugin("hw.swap", domain="hardware", requires_files=["/proc/swaps"])


class Params(msgspec.Struct, forbid_unknown_fields=True):
    top: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 10
    interval: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0.0


class SwapArea(msgspec.Struct):
    name: str
    type: str
    size: int
    used: int
    priority: int


class Zram(msgspec.Struct):
    name: str
    disksize: int
    algorithm: str
    original: int
    compressed: int
    memory_used: int
    ratio: float | None


class SwappedProcess(msgspec.Struct):
    pid: int
    name: str
    swap: int


class SwapInfo(msgspec.Struct):
    areas: list[SwapArea]
    total: int
    used: int
    swappiness: int | None
    zswap: bool
    zram: list[Zram]
    pswpin: int
    pswpout: int
    pswpin_per_s: float | None
    pswpout_per_s: float | None
    top: list[SwappedProcess]


def parse_swaps(text: str) -> list[SwapArea]:
    """``/proc/swaps``: a header, then ``name type size(KiB) used(KiB) priority``."""
    out = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) >= 5:
            # Names with spaces are escaped as \040 by the kernel.
            out.append(SwapArea(name=f[0].replace("\\040", " "), type=f[1], size=int(f[2]) * 1024, used=int(f[3]) * 1024, priority=int(f[4])))
    return out


def zram_devices() -> list[Zram]:
    out = []
    for name in listdir("/sys/block"):
        if not name.startswith("zram"):
            continue
        d = f"/sys/block/{name}"
        mm = [int(x) for x in (read(f"{d}/mm_stat") or "").split()[:3]] + [0, 0, 0]
        orig, compr, used = mm[:3]
        out.append(
            Zram(
                name=name,
                disksize=read_int(f"{d}/disksize") or 0,
                algorithm=selected(read(f"{d}/comp_algorithm")),
                original=orig,
                compressed=compr,
                memory_used=used,
                ratio=round(orig / compr, 2) if compr else None,
            )
        )
    return out


def vmstat_swap() -> tuple[int, int]:
    values = dict(line.split() for line in (read("/proc/vmstat") or "").splitlines() if line.startswith("pswp"))
    return int(values.get("pswpin", 0)), int(values.get("pswpout", 0))


def swapped_processes(top: int) -> list[SwappedProcess]:
    found = []
    for pid in pids():
        status = read(f"/proc/{pid}/status")
        if not status:
            continue
        fields = parse_colon_kv(status)
        swap = kib_value(fields.get("VmSwap", "0 kB"))
        if swap:
            found.append(SwappedProcess(pid=pid, name=fields.get("Name", ""), swap=swap))
    found.sort(key=lambda s: (-s.swap, s.pid))
    return found[:top]


@action("hw.swap", risk=Risk.READ, timeout=90)
async def swap(ctx: ActionContext, p: Params) -> SwapInfo:
    """Swap areas, zram/zswap, swappiness, swap-in/out counters (and rates) and the most-swapped processes."""
    areas = parse_swaps(read("/proc/swaps") or "")
    pin0, pout0 = vmstat_swap()
    rates: tuple[float | None, float | None] = (None, None)
    pin, pout = pin0, pout0
    if p.interval:
        await ctx.sleep(p.interval)
        pin, pout = vmstat_swap()
        rates = (round((pin - pin0) / p.interval, 1), round((pout - pout0) / p.interval, 1))
    return SwapInfo(
        areas=areas,
        total=sum(a.size for a in areas),
        used=sum(a.used for a in areas),
        swappiness=read_int("/proc/sys/vm/swappiness"),
        zswap=(read("/sys/module/zswap/parameters/enabled") or "N") in ("Y", "1"),
        zram=zram_devices(),
        pswpin=pin,
        pswpout=pout,
        pswpin_per_s=rates[0],
        pswpout_per_s=rates[1],
        top=swapped_processes(p.top) if p.top else [],
    )
