"""kernel.vmstat sees the page faults of a child that touches fresh memory during the sample."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent_core.testing import run_action
from plugins.kernel.vmstat import read_vmstat


@pytest.fixture
def faulter():
    code = "import time\nwhile True:\n    b = bytearray(64 << 20)\n    for i in range(0, len(b), 4096): b[i] = 1\n    del b\n"
    proc = subprocess.Popen([sys.executable, "-c", code])
    yield proc
    proc.kill()
    proc.wait()


async def test_faults_are_counted(faulter):
    before = read_vmstat()
    out = await run_action("kernel.vmstat", {"interval": 0.5, "counters": ["nr_free_pages", "zz_unknown"]})
    assert out.ok, out.message
    v = out.value
    assert v["rates"]["pgfault"] > 1000  # 16k faults per 64 MiB round
    assert v["totals"]["pgfault"] >= before["pgfault"]
    assert "nr_free_pages" in v["totals"] and v["unknown"] == ["zz_unknown"]
    assert v["swapping"] == (v["rates"].get("pswpin", 0) > 0 and v["rates"].get("pswpout", 0) > 0)


@pytest.mark.parametrize("params", [{"interval": 0}, {"interval": 100}, {"counter": "x"}])
async def test_vmstat_bad_params(params):
    assert (await run_action("kernel.vmstat", params)).code == "A002"
