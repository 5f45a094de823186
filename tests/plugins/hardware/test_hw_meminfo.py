"""hw.meminfo against psutil and /proc/meminfo."""

from __future__ import annotations

import psutil

from agent_core.testing import run_action


def _meminfo_kb(key: str) -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _overcommit() -> int:
    with open("/proc/sys/vm/overcommit_memory") as fh:
        return int(fh.read())


async def test_meminfo_matches_psutil():
    out = await run_action("hw.meminfo", {"raw": True})
    assert out.ok, out.message
    v = out.value
    vm = psutil.virtual_memory()
    assert v["total"] == vm.total
    assert v["used"] == v["total"] - v["available"]
    assert abs(v["available"] - vm.available) < 256 * 1024 * 1024  # memory moves between readings
    assert v["raw"]["MemTotal"] == _meminfo_kb("MemTotal")
    assert v["commit_limit"] == _meminfo_kb("CommitLimit")
    assert v["swap_total"] == psutil.swap_memory().total
    assert v["overcommit"] == {0: "heuristic", 1: "always", 2: "never"}[_overcommit()]
    assert 0 <= v["used_percent"] <= 100


async def test_meminfo_sees_an_allocation():
    before = await run_action("hw.meminfo")
    block = bytearray(256 * 1024 * 1024)  # touched: zero-filled pages are faulted in
    for i in range(0, len(block), 4096):
        block[i] = 1
    after = await run_action("hw.meminfo")
    del block
    assert after.value["anon"] - before.value["anon"] > 128 * 1024 * 1024


async def test_meminfo_bad_params():
    assert (await run_action("hw.meminfo", {"raw": "yes"})).code == "A002"
