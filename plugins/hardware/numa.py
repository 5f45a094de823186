"""NUMA layout: nodes, their CPUs and memory, distances, and local vs remote allocations.

Answers NUMA questions without ``numactl``: ``hw.numa`` reads
``/sys/devices/system/node`` for every node's CPUs, memory total/free/used,
huge pages, the distance matrix, and the allocation counters (``numa_hit``,
``numa_miss``, ``local_node``, ``other_node``) from which it computes the share
of allocations that had to go to a remote node, plus whether automatic NUMA
balancing is on. Reads only.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, NoParams, Plugin, Risk, action
from agent_core.procfs import listdir, parse_cpulist, read, read_int

NODES = "/sys/devices/system/node"
PLUGIN = Plugin("hw.numa", domain="hardware", requires_files=[NODES])


class Node(msgspec.Struct):
    node: int
    cpus: list[int]
    mem_total: int
    mem_free: int
    mem_used: int
    hugepages: dict[str, int]
    distances: list[int]
    numa_hit: int
    numa_miss: int
    numa_foreign: int
    local_node: int
    other_node: int
    remote_percent: float


class Numa(msgspec.Struct):
    nodes: list[Node]
    online: list[int]
    balancing: bool | None
    remote_percent: float


def node_meminfo(text: str) -> dict[str, int]:
    """``Node 0 MemTotal:  4810968 kB`` lines to {"MemTotal": bytes}."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] == "Node":
            value = int(parts[3])
            out[parts[2].rstrip(":")] = value * 1024 if len(parts) > 4 and parts[4] == "kB" else value
    return out


def read_node(n: int) -> Node:
    d = f"{NODES}/node{n}"
    mem = node_meminfo(read(f"{d}/meminfo") or "")
    stat = {k: int(v) for k, v in (line.split() for line in (read(f"{d}/numastat") or "").splitlines() if line.strip())}
    hp = {}
    for size in listdir(f"{d}/hugepages"):
        count = read_int(f"{d}/hugepages/{size}/nr_hugepages")
        if count is not None:
            hp[size.removeprefix("hugepages-")] = count
    local, other = stat.get("local_node", 0), stat.get("other_node", 0)
    return Node(
        node=n,
        cpus=parse_cpulist(read(f"{d}/cpulist")),
        mem_total=mem.get("MemTotal", 0),
        mem_free=mem.get("MemFree", 0),
        mem_used=mem.get("MemUsed", mem.get("MemTotal", 0) - mem.get("MemFree", 0)),
        hugepages=hp,
        distances=[int(x) for x in (read(f"{d}/distance") or "").split()],
        numa_hit=stat.get("numa_hit", 0),
        numa_miss=stat.get("numa_miss", 0),
        numa_foreign=stat.get("numa_foreign", 0),
        local_node=local,
        other_node=other,
        remote_percent=round(100.0 * other / (local + other), 3) if local + other else 0.0,
    )


@action("hw.numa", risk=Risk.READ, timeout=10)
async def numa(ctx: ActionContext, p: NoParams) -> Numa:
    """Per node: CPUs, memory, huge pages, distances and local/remote allocation counts."""
    ids = sorted(int(name[4:]) for name in listdir(NODES) if name.startswith("node") and name[4:].isdigit())
    nodes = [read_node(n) for n in ids]
    local = sum(n.local_node for n in nodes)
    other = sum(n.other_node for n in nodes)
    balancing = read_int("/proc/sys/kernel/numa_balancing")
    return Numa(
        nodes=nodes,
        online=parse_cpulist(read(f"{NODES}/online")),
        balancing=bool(balancing) if balancing is not None else None,
        remote_percent=round(100.0 * other / (local + other), 3) if local + other else 0.0,
    )
