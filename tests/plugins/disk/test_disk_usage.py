"""disk.usage against os.statvfs and df."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from agent_core.testing import run_action
from plugins.disk.usage import df_percent


def _df(path: str) -> tuple[int, int, int]:
    """(size, used, avail) in bytes from df for the filesystem of ``path``."""
    if shutil.which("df") is None:
        pytest.skip("df (coreutils) not installed")
    res = subprocess.run(["df", "-B1", "--output=size,used,avail", path], capture_output=True, text=True, check=True)
    size, used, avail = res.stdout.splitlines()[1].split()
    return int(size), int(used), int(avail)


def _statvfs(path: str) -> os.statvfs_result:
    return os.statvfs(path)


async def test_usage_of_root_matches_statvfs_and_df():
    out = await run_action("disk.usage", {"path": "/"})
    st = _statvfs("/")
    assert out.ok, out.message
    (fs,) = out.value["filesystems"]
    assert fs["mountpoint"] == "/"
    assert fs["total"] == st.f_blocks * st.f_frsize
    # Other tests write meanwhile: compare free space loosely, structure exactly.
    assert abs(fs["available"] - st.f_bavail * st.f_frsize) < 512 * 1024 * 1024
    assert fs["used"] + fs["free"] == fs["total"]
    assert fs["reserved"] == fs["free"] - fs["available"]
    size, used, avail = _df("/")
    assert fs["total"] == size
    assert abs(fs["used_percent"] - df_percent(used, avail)) < 1.0


async def test_usage_lists_each_filesystem_once(tmp_path):
    out = await run_action("disk.usage", {"threshold": 0})
    assert out.ok, out.message
    points = [f["mountpoint"] for f in out.value["filesystems"]]
    assert "/" in points and len(points) == len(set(points))
    assert all(f["fstype"] not in ("proc", "sysfs", "cgroup", "devpts") for f in out.value["filesystems"])
    # threshold 0: everything with any use is over it
    assert set(out.value["over_threshold"]) == {f["mountpoint"] for f in out.value["filesystems"] if f["used_percent"] >= 0 and not f["error"]}
    holder = await run_action("disk.usage", {"path": str(tmp_path)})
    assert holder.value["filesystems"][0]["mountpoint"] in points + [m for f in out.value["filesystems"] for m in f["also_mounted_at"]]


def test_df_percent_rounds_up():
    assert df_percent(1, 2) == 33.34
    assert df_percent(0, 0) == 0.0
    assert df_percent(50, 50) == 50.0


@pytest.mark.parametrize(
    ("params", "code"),
    [({"path": "relative/dir"}, "A002"), ({"path": "/no/such/dir"}, "A017"), ({"threshold": 120}, "A002"), ({"mount": "/"}, "A002")],
)
async def test_usage_errors(params, code):
    assert (await run_action("disk.usage", params)).code == code
