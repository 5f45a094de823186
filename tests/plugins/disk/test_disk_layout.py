"""disk.layout against lsblk and sysfs, or A003 without lsblk."""

from __future__ import annotations

import os
import shutil

import pytest

from agent_core.testing import run_action
from plugins.disk.layout import to_node, unused

HAVE_LSBLK = shutil.which("lsblk") is not None


def _sizes() -> dict[str, int]:
    out = {}
    for name in os.listdir("/sys/block"):
        with open(f"/sys/block/{name}/size") as fh:
            out[name] = int(fh.read()) * 512
    return out


async def test_layout_matches_sysfs():
    out = await run_action("disk.layout")
    if not HAVE_LSBLK:
        assert out.code == "A003"
        pytest.skip("lsblk absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    assert out.ok, out.message
    sizes = _sizes()
    for dev in out.value["devices"]:
        assert dev["size"] == sizes[dev["name"]]
        assert not dev["name"].startswith(("loop", "zram"))
    everything = await run_action("disk.layout", {"virtual": True})
    assert {d["name"] for d in everything.value["devices"]} >= {d["name"] for d in out.value["devices"]}


def test_tree_and_unused():
    raw = {
        "name": "sdb", "path": "/dev/sdb", "type": "disk", "size": 100, "fstype": None, "mountpoints": [None],
        "children": [
            {"name": "sdb1", "path": "/dev/sdb1", "type": "part", "size": 60, "fstype": "ext4", "mountpoints": ["/data"], "fsavail": "10", "fsused": "50"},
            {"name": "sdb2", "path": "/dev/sdb2", "type": "part", "size": 40, "fstype": None, "mountpoints": [None]},
        ],
    }  # fmt: skip
    fresh = {"name": "sdc", "path": "/dev/sdc", "type": "disk", "size": 500, "mountpoint": None}
    nodes = [to_node(raw), to_node(fresh)]
    assert nodes[0].children[0].mountpoints == ["/data"] and nodes[0].children[0].fs_used == 50
    assert unused(nodes) == ["/dev/sdb2", "/dev/sdc"]


async def test_layout_bad_params():
    out = await run_action("disk.layout", {"device": "sda"})
    if not HAVE_LSBLK:
        pytest.skip("lsblk absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    assert out.code == "A002"
