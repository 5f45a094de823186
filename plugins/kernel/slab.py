"""Kernel slab caches by memory use (slabtop): where "used but not by any process" memory went.

``kernel.slab`` parses ``/proc/slabinfo`` and ranks the caches by the memory
their slabs occupy (slabs x pages per slab x page size), with active and total
objects, object size and how full the cache is. A ``dentry`` or
``inode_cache`` in the gigabytes (a find over millions of files, a leaking
container), or a growing ``kmalloc-*``, explains memory that ``proc.top`` cannot
attribute; ``slab_total`` is set next to ``Slab``/``SReclaimable`` from
meminfo. Reads only; ``/proc/slabinfo`` is root-only.
"""

from __future__ import annotations

import os
from typing import Annotated

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action
from agent_core.procfs import kib_value, parse_colon_kv, read

SLABINFO = "/proc/slabinfo"
PLUGIN = Plugin("kernel.slab", domain="kernel", requires_files=[SLABINFO])


class Params(msgspec.Struct, forbid_unknown_fields=True):
    top: Annotated[int, msgspec.Meta(ge=1, le=10000)] = 20


class Cache(msgspec.Struct):
    name: str
    active_objs: int
    num_objs: int
    objsize: int
    bytes: int
    used_percent: float


class Slab(msgspec.Struct):
    caches: list[Cache]
    slab_total: int
    meminfo_slab: int
    meminfo_reclaimable: int
    cache_count: int


def parse_slabinfo(text: str, page_size: int) -> list[Cache]:
    """slabinfo 2.x: ``name active num objsize perslab pagesperslab : tunables ... : slabdata active num shared``."""
    out = []
    for line in text.splitlines():
        if line.startswith(("slabinfo", "#")):
            continue
        f = line.split()
        if len(f) < 16:
            continue
        active, num, objsize, pages_per_slab, num_slabs = int(f[1]), int(f[2]), int(f[3]), int(f[5]), int(f[14])
        out.append(
            Cache(name=f[0], active_objs=active, num_objs=num, objsize=objsize, bytes=num_slabs * pages_per_slab * page_size,
                  used_percent=round(100.0 * active / num, 1) if num else 0.0)  # fmt: skip
        )
    return out


def _slabinfo() -> str:
    try:
        with open(SLABINFO) as fh:
            return fh.read()
    except PermissionError:
        raise ActionError(f"{SLABINFO} is readable by root only", code=ErrorCode.A016) from None


@action("kernel.slab", risk=Risk.READ, timeout=15)
async def slab(ctx: ActionContext, p: Params) -> Slab:
    """The ``top`` slab caches by memory, with object counts and fill, against meminfo's Slab figures."""
    caches = parse_slabinfo(_slabinfo(), os.sysconf("SC_PAGE_SIZE"))
    caches.sort(key=lambda c: (-c.bytes, c.name))
    mem = parse_colon_kv(read("/proc/meminfo") or "")
    return Slab(
        caches=caches[: p.top],
        slab_total=sum(c.bytes for c in caches),
        meminfo_slab=kib_value(mem.get("Slab", "0 kB")),
        meminfo_reclaimable=kib_value(mem.get("SReclaimable", "0 kB")),
        cache_count=len(caches),
    )
