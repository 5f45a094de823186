"""hw.hugepages against sysfs and /proc/meminfo."""

from __future__ import annotations

import os

from agent_core.testing import run_action

SYS = "/sys/kernel/mm/hugepages"
HAVE_THP = os.path.exists("/sys/kernel/mm/transparent_hugepage/enabled")


def _nr(entry: str) -> int:
    with open(f"{SYS}/{entry}/nr_hugepages") as fh:
        return int(fh.read())


def _thp_enabled() -> str:
    with open("/sys/kernel/mm/transparent_hugepage/enabled") as fh:
        return fh.read().split("[")[1].split("]")[0]


def _meminfo_hugepagesize() -> int:
    with open("/proc/meminfo") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("Hugepagesize:"))


async def test_pools_match_sysfs():
    out = await run_action("hw.hugepages")
    assert out.ok, out.message
    v = out.value
    entries = sorted((e for e in os.listdir(SYS) if e.startswith("hugepages-")), key=lambda e: int(e[10:-2]))
    assert [p["size"] for p in v["pools"]] == [int(e[10:-2]) * 1024 for e in entries]
    for pool, entry in zip(v["pools"], entries, strict=True):
        assert pool["total"] == _nr(entry)
        assert pool["bytes_total"] == pool["total"] * pool["size"]
        assert sum(pool["per_node"].values()) == pool["total"]
    assert v["default_size"] == _meminfo_hugepagesize()
    if HAVE_THP:
        assert v["thp"]["enabled"] == _thp_enabled()


async def test_hugepages_bad_params():
    assert (await run_action("hw.hugepages", {"size": "2M"})).code == "A002"
