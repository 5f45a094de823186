"""Disk I/O rates per device over an interval: IOPS, throughput, latency, utilisation, queue.

``disk.iostat`` samples ``/proc/diskstats`` twice, ``interval`` seconds apart,
and computes what ``iostat -x`` shows: reads and writes per second, bytes per
second, average wait per request (ms), utilisation (share of time the device
had I/O in flight; near 100% means saturated for a single-queue disk) and the
average queue length, plus requests in flight now. Whole disks only by
default; ``partitions`` adds partitions, ``virtual`` adds loop/ram/zram
devices, ``devices`` restricts the list. Reads only.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    NotFound,
    Plugin,
    Risk,
    action,
)
from agent_core.procfs import listdir, read

PLUGIN = Plugin("disk.iostat", domain="disk", requires_files=["/proc/diskstats"])

SECTOR = 512
VIRTUAL = ("loop", "ram", "zram", "nbd")


class Params(msgspec.Struct, forbid_unknown_fields=True):
    interval: Annotated[float, msgspec.Meta(ge=0.05, le=60)] = 1.0
    devices: list[str] = []
    partitions: bool = False
    virtual: bool = False


class DeviceIO(msgspec.Struct):
    device: str
    reads_per_s: float
    writes_per_s: float
    read_bytes_per_s: float
    write_bytes_per_s: float
    read_await_ms: float
    write_await_ms: float
    util_percent: float
    queue: float
    in_flight: int
    discards_per_s: float


class IoStat(msgspec.Struct):
    interval: float
    devices: list[DeviceIO]
    busiest: str


def read_diskstats() -> dict[str, list[int]]:
    """``/proc/diskstats`` counters by device name (fields 4.. as ints, padded to 17)."""
    out = {}
    for line in (read("/proc/diskstats") or "").splitlines():
        f = line.split()
        if len(f) >= 14:
            values = [int(x) for x in f[3:]]
            out[f[2]] = values + [0] * (17 - len(values))
    return out


def rates(name: str, a: list[int], b: list[int], dt: float) -> DeviceIO:
    d = [max(0, y - x) for x, y in zip(a, b, strict=True)]
    reads, writes = d[0], d[4]
    return DeviceIO(
        device=name,
        reads_per_s=round(reads / dt, 2),
        writes_per_s=round(writes / dt, 2),
        read_bytes_per_s=round(d[2] * SECTOR / dt, 1),
        write_bytes_per_s=round(d[6] * SECTOR / dt, 1),
        read_await_ms=round(d[3] / reads, 3) if reads else 0.0,
        write_await_ms=round(d[7] / writes, 3) if writes else 0.0,
        util_percent=round(min(100.0, 100.0 * d[9] / (dt * 1000.0)), 2),
        queue=round(d[10] / (dt * 1000.0), 3),
        in_flight=b[8],
        discards_per_s=round(d[11] / dt, 2),
    )


def wanted(names: list[str], p: Params) -> list[str]:
    disks = set(listdir("/sys/block"))
    if p.devices:
        missing = [d for d in p.devices if d.removeprefix("/dev/") not in names]
        if missing:
            raise NotFound(f"no such block device(s): {', '.join(missing)}")
        return [d.removeprefix("/dev/") for d in p.devices]
    return [
        n for n in names
        if (p.partitions or n in disks) and (p.virtual or not n.startswith(VIRTUAL))
    ]  # fmt: skip


@action("disk.iostat", risk=Risk.READ, timeout=120)
async def iostat(ctx: ActionContext, p: Params) -> IoStat:
    """Per-device IOPS, bytes/s, await, utilisation and queue length over ``interval`` seconds."""
    first = read_diskstats()
    names = wanted(list(first), p)
    await ctx.sleep(p.interval)
    second = read_diskstats()
    devs = [rates(n, first[n], second[n], p.interval) for n in names if n in second]
    return IoStat(
        interval=p.interval,
        devices=devs,
        busiest=max(devs, key=lambda d: d.util_percent).device if devs else "",
    )
