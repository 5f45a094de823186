"""disk.iostat: writes made during the sample show up on the disk that holds them."""

from __future__ import annotations

import os
import subprocess

import pytest

from agent_core.testing import run_action
from plugins.disk._common import mount_for, mount_table
from plugins.disk.iostat import rates


def _disk_of(path: str) -> str | None:
    """The /sys/block disk behind the filesystem holding ``path`` (via its major:minor)."""
    m = mount_for(path, mount_table())
    for name in os.listdir("/sys/block"):
        with open(f"/sys/block/{name}/dev") as fh:
            if fh.read().strip() == m.dev:
                return name
    return None


@pytest.fixture
def writer(tmp_path):
    """Write 4 MiB with O_DIRECT|O_SYNC, over and over, while the test samples."""
    script = (
        "import os, mmap, sys\n"
        "buf = mmap.mmap(-1, 1 << 20); buf.write(b'x' * (1 << 20))\n"
        "while True:\n"
        "    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT | os.O_SYNC)\n"
        "    for _ in range(4): os.write(fd, buf)\n"
        "    os.close(fd)\n"
    )
    proc = subprocess.Popen(["python3", "-c", script, str(tmp_path / "io.bin")])
    yield tmp_path
    proc.kill()
    proc.wait()


async def test_iostat_sees_direct_writes(writer):
    disk = _disk_of(str(writer))
    if disk is None:
        pytest.skip("the temp directory is not on a block device (tmpfs)")
    out = await run_action("disk.iostat", {"interval": 0.5, "devices": [disk]})
    assert out.ok, out.message
    (d,) = out.value["devices"]
    assert d["device"] == disk
    assert d["writes_per_s"] > 0 and d["write_bytes_per_s"] > 0
    assert 0 <= d["util_percent"] <= 100


async def test_default_lists_whole_disks_only():
    out = await run_action("disk.iostat", {"interval": 0.1})
    assert out.ok
    disks = set(os.listdir("/sys/block"))
    assert {d["device"] for d in out.value["devices"]} <= disks
    assert not any(d["device"].startswith(("loop", "zram", "ram")) for d in out.value["devices"])


def test_rates_math():
    before = [100, 0, 800, 50, 10, 0, 80, 20, 0, 1000, 2000] + [0] * 6
    after = [200, 0, 1800, 150, 30, 0, 240, 60, 2, 1500, 3000] + [0] * 6
    r = rates("sda", before, after, 1.0)
    assert (r.reads_per_s, r.read_bytes_per_s, r.read_await_ms) == (100.0, 1000 * 512, 1.0)
    assert (r.writes_per_s, r.write_await_ms, r.util_percent, r.queue, r.in_flight) == (20.0, 2.0, 50.0, 1.0, 2)


@pytest.mark.parametrize(("params", "code"), [({"interval": 0}, "A002"), ({"devices": ["nosuchdisk"]}, "A017"), ({"disk": "vda"}, "A002")])
async def test_iostat_errors(params, code):
    assert (await run_action("disk.iostat", params)).code == code
