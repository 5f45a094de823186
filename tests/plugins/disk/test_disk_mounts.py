"""disk.mounts against /proc/self/mountinfo and findmnt."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from agent_core.testing import run_action
from plugins.disk._common import parse_mountinfo, unescape


def _mountinfo_lines() -> int:
    with open("/proc/self/mountinfo") as fh:
        return sum(1 for line in fh if " - " in line)


def _findmnt_target(path: str) -> str:
    if shutil.which("findmnt") is None:
        pytest.skip("findmnt (util-linux) not installed")
    res = subprocess.run(["findmnt", "-J", "-T", path], capture_output=True, text=True, check=True)
    return json.loads(res.stdout)["filesystems"][0]["target"]


async def test_all_mounts_listed():
    out = await run_action("disk.mounts")
    assert out.ok, out.message
    assert len(out.value["mounts"]) == _mountinfo_lines()
    root = [m for m in out.value["mounts"] if m["mountpoint"] == "/"]
    assert root and root[-1]["bind"] is False


async def test_path_filter_agrees_with_findmnt(tmp_path):
    out = await run_action("disk.mounts", {"path": str(tmp_path)})
    assert out.ok
    (m,) = out.value["mounts"]
    assert m["mountpoint"] == _findmnt_target(str(tmp_path))


async def test_type_and_data_filters():
    proc = await run_action("disk.mounts", {"fstype": "proc"})
    assert proc.value["mounts"] and all(m["fstype"] == "proc" for m in proc.value["mounts"])
    data = await run_action("disk.mounts", {"data_only": True})
    assert all(m["fstype"] not in ("proc", "sysfs", "cgroup") for m in data.value["mounts"])


def test_parse_mountinfo_escapes_and_optional_fields():
    text = "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n"
    (m,) = parse_mountinfo(text)
    assert (m.mountpoint, m.root, m.propagation, m.fstype, m.source) == ("/mnt/with space", "/mnt1", ["master:1", "shared:2"], "ext3", "/dev/root")
    assert unescape("a\\011b\\134c") == "a\tb\\c"


async def test_mounts_errors():
    assert (await run_action("disk.mounts", {"path": "/no/such/place"})).code == "A017"
    assert (await run_action("disk.mounts", {"path": "relative"})).code == "A002"
    assert (await run_action("disk.mounts", {"type": "ext4"})).code == "A002"
