"""hw.numa against /sys/devices/system/node."""

from __future__ import annotations

import os

from agent_core.procfs import parse_cpulist
from agent_core.testing import run_action
from plugins.hardware.numa import node_meminfo

NODES = "/sys/devices/system/node"


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read().strip()


def _node_ids() -> list[int]:
    return sorted(int(n[4:]) for n in os.listdir(NODES) if n.startswith("node") and n[4:].isdigit())


async def test_numa_matches_sysfs():
    out = await run_action("hw.numa")
    assert out.ok, out.message
    v = out.value
    assert [n["node"] for n in v["nodes"]] == _node_ids()
    all_cpus = sorted(c for n in v["nodes"] for c in n["cpus"])
    assert all_cpus == sorted(set(all_cpus)) and len(all_cpus) == os.cpu_count()
    for n in v["nodes"]:
        d = f"{NODES}/node{n['node']}"
        assert n["cpus"] == parse_cpulist(_read(f"{d}/cpulist"))
        assert n["distances"] == [int(x) for x in _read(f"{d}/distance").split()]
        assert n["distances"][n["node"]] == 10  # local distance is 10 by ACPI SLIT convention
        assert n["mem_total"] == node_meminfo(_read(f"{d}/meminfo"))["MemTotal"]
        stat = dict(line.split() for line in _read(f"{d}/numastat").splitlines())
        assert n["numa_hit"] <= int(stat["numa_hit"])  # counters only grow
        assert 0 <= n["remote_percent"] <= 100


def test_node_meminfo_units():
    text = "Node 1 MemTotal:       65536 kB\nNode 1 HugePages_Total:     8\n"
    assert node_meminfo(text) == {"MemTotal": 65536 * 1024, "HugePages_Total": 8}


async def test_numa_bad_params():
    assert (await run_action("hw.numa", {"node": 0})).code == "A002"
