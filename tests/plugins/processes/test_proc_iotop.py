"""proc.iotop ranks a child writing with O_DIRECT at the top of block-I/O writers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent_core.testing import run_action


@pytest.fixture
def writer(tmp_path):
    code = (
        "import os, mmap, sys\n"
        "buf = mmap.mmap(-1, 1 << 20); buf.write(b'y' * (1 << 20))\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT | os.O_SYNC)\n"
        "    for _ in range(4): os.write(fd, buf)\n"
        "    os.close(fd)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "w.bin")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait()


async def test_writer_is_seen(writer):
    out = await run_action("proc.iotop", {"interval": 0.5, "top": 50})
    assert out.ok, out.message
    rows = {r["pid"]: r for r in out.value["processes"]}
    assert writer.pid in rows, out.value["processes"][:5]
    me = rows[writer.pid]
    assert me["write_bytes_per_s"] > 1024 * 1024 and me["wchar_per_s"] > 1024 * 1024
    totals = [r["read_bytes_per_s"] + r["write_bytes_per_s"] for r in out.value["processes"]]
    assert totals == sorted(totals, reverse=True)
    assert out.value["total_write_bytes_per_s"] >= me["write_bytes_per_s"]


@pytest.mark.parametrize("params", [{"interval": 0}, {"top": 0}, {"sort": "read"}])
async def test_io_bad_params(params):
    assert (await run_action("proc.iotop", params)).code == "A002"
