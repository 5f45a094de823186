"""hw.block against lsblk and sysfs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from agent_core.testing import run_action


def _lsblk() -> dict[str, dict]:
    if shutil.which("lsblk") is None:
        pytest.skip("lsblk (util-linux) not installed")
    res = subprocess.run(["lsblk", "-J", "-b", "-d", "-o", "NAME,SIZE,ROTA,RO,RM,LOG-SEC,PHY-SEC"], capture_output=True, text=True, check=True)
    return {d["name"]: d for d in json.loads(res.stdout)["blockdevices"]}


def _real_disks() -> list[str]:
    return sorted(n for n in os.listdir("/sys/block") if not n.startswith(("loop", "ram", "zram", "nbd")))


async def test_block_matches_lsblk():
    ref = _lsblk()
    out = await run_action("hw.block")
    assert out.ok, out.message
    devs = {d["name"]: d for d in out.value["devices"]}
    assert sorted(devs) == _real_disks()
    for name, d in devs.items():
        r = ref[name]
        assert d["size"] == int(r["size"])
        assert d["rotational"] == bool(int(r["rota"]) if isinstance(r["rota"], str) else r["rota"])
        assert d["read_only"] == bool(int(r["ro"]) if isinstance(r["ro"], str) else r["ro"])
        assert d["logical_sector"] == int(r["log-sec"])
        assert d["physical_sector"] == int(r["phy-sec"])
        assert d["virtual"] is False


async def test_block_virtual_and_single_device():
    everything = await run_action("hw.block", {"virtual": True})
    names = [d["name"] for d in everything.value["devices"]]
    assert names == sorted(os.listdir("/sys/block"))
    one = await run_action("hw.block", {"device": f"/dev/{names[0]}"})
    assert one.ok and [d["name"] for d in one.value["devices"]] == [names[0]]


async def test_block_errors():
    assert (await run_action("hw.block", {"device": "nosuchdisk0"})).code == "A017"
    assert (await run_action("hw.block", {"device": "../etc"})).code == "A017"
    assert (await run_action("hw.block", {"disk": "vda"})).code == "A002"
