"""Huge pages: reserved pools per size and NUMA node, and transparent huge page settings.

``hw.hugepages`` reports, for each huge page size the CPU supports, the
persistent pool (``nr_hugepages``), how many pages are free, reserved and
surplus, the overcommit allowance, and the split across NUMA nodes (a pool
that sits on the wrong node is a classic database performance bug). It adds
the transparent huge page mode, defrag policy and khugepaged counters, the
``AnonHugePages`` in use and the mounted ``hugetlbfs`` filesystems. Reads only.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, NoParams, Plugin, Risk, action
from agent_core.procfs import kib_value, listdir, parse_colon_kv, read, read_int, selected

PLUGIN = Plugin(
    "hw.hugepages", domain="hardware", requires_files=["/sys/kernel/mm/hugepages"]
)

HUGEPAGES = "/sys/kernel/mm/hugepages"
THP = "/sys/kernel/mm/transparent_hugepage"
NODES = "/sys/devices/system/node"


class Pool(msgspec.Struct):
    size: int
    total: int
    free: int
    reserved: int
    surplus: int
    overcommit: int
    bytes_total: int
    per_node: dict[str, int]


class Thp(msgspec.Struct):
    enabled: str
    defrag: str
    shmem_enabled: str
    pages_collapsed: int | None
    full_scans: int | None
    anon_in_use: int


class Hugepages(msgspec.Struct):
    pools: list[Pool]
    default_size: int
    thp: Thp
    hugetlbfs_mounts: list[str]


def pools() -> list[Pool]:
    out = []
    for entry in listdir(HUGEPAGES):
        if not (entry.startswith("hugepages-") and entry.endswith("kB")):
            continue
        size = int(entry[len("hugepages-"):-2]) * 1024
        d = f"{HUGEPAGES}/{entry}"
        per_node = {}
        for node in listdir(NODES):
            count = read_int(f"{NODES}/{node}/hugepages/{entry}/nr_hugepages")
            if node.startswith("node") and count is not None:
                per_node[node] = count
        total = read_int(f"{d}/nr_hugepages") or 0
        out.append(
            Pool(
                size=size,
                total=total,
                free=read_int(f"{d}/free_hugepages") or 0,
                reserved=read_int(f"{d}/resv_hugepages") or 0,
                surplus=read_int(f"{d}/surplus_hugepages") or 0,
                overcommit=read_int(f"{d}/nr_overcommit_hugepages") or 0,
                bytes_total=total * size,
                per_node=per_node,
            )
        )
    return sorted(out, key=lambda pool: pool.size)


def hugetlbfs_mounts() -> list[str]:
    mounts = []
    for line in (read("/proc/self/mountinfo") or "").splitlines():
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] == "hugetlbfs":
            mounts.append(left.split()[4])
    return mounts


@action("hw.hugepages", risk=Risk.READ, timeout=10)
async def hugepages(ctx: ActionContext, p: NoParams) -> Hugepages:
    """Huge page pools per size and node, transparent huge page mode and hugetlbfs mounts."""
    m = parse_colon_kv(read("/proc/meminfo") or "")
    return Hugepages(
        pools=pools(),
        default_size=kib_value(m.get("Hugepagesize", "0 kB")),
        thp=Thp(
            enabled=selected(read(f"{THP}/enabled")),
            defrag=selected(read(f"{THP}/defrag")),
            shmem_enabled=selected(read(f"{THP}/shmem_enabled")),
            pages_collapsed=read_int(f"{THP}/khugepaged/pages_collapsed"),
            full_scans=read_int(f"{THP}/khugepaged/full_scans"),
            anon_in_use=kib_value(m.get("AnonHugePages", "0 kB")),
        ),
        hugetlbfs_mounts=hugetlbfs_mounts(),
    )
