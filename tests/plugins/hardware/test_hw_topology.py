"""hw.topology against sysfs and psutil."""

from __future__ import annotations

import os

import psutil

from agent_core.testing import run_action


def _core_id(cpu: int) -> int:
    with open(f"/sys/devices/system/cpu/cpu{cpu}/topology/core_id") as fh:
        return int(fh.read())


def _nodes() -> set[int]:
    base = "/sys/devices/system/node"
    return {int(n[4:]) for n in os.listdir(base) if n.startswith("node") and n[4:].isdigit()}


async def test_topology_matches_sysfs():
    out = await run_action("hw.topology")
    assert out.ok, out.message
    v = out.value
    online = [c for c in v["cpus"] if c["online"]]
    assert len(online) == os.cpu_count()
    assert v["cores"] == psutil.cpu_count(logical=False)
    for c in online:
        assert c["core"] == _core_id(c["cpu"])
        assert c["cpu"] in c["siblings"]
        assert c["node"] is None or c["node"] in _nodes()
    assert v["threads_per_core"] == max(len(c["siblings"]) for c in online)
    assert v["offline"] == [c["cpu"] for c in v["cpus"] if not c["online"]]
    if v["smt_active"] is not None:
        assert v["smt_active"] == (v["threads_per_core"] > 1)


async def test_topology_bad_params():
    assert (await run_action("hw.topology", {"cpu": 0})).code == "A002"
