"""proc.top ranks a spinning child near the top by CPU and a big child near the top by memory."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from agent_core.testing import run_action
from plugins.processes.top import busy_percent


@pytest.fixture
def spinner():
    # Ahead of other work on a loaded machine (the suite's other workers) so that it shows a
    # clear share of a core: nice(1) execs it with -10 (only as root; else it warns and runs it).
    proc = subprocess.Popen(["nice", "-n", "-10", sys.executable, "-c", "while True: pass"], stderr=subprocess.DEVNULL)
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def hog():
    """A child holding 400 MiB of touched memory, ready when it prints."""
    code = "import sys, time\nb = bytearray(400 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint('ready', flush=True)\ntime.sleep(60)\n"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait()


async def test_top_by_cpu_finds_the_spinner(spinner):
    out = await run_action("proc.top", {"interval": 0.5, "count": 10})
    assert out.ok, out.message
    rows = out.value["processes"]
    assert [r["cpu_percent"] for r in rows] == sorted((r["cpu_percent"] for r in rows), reverse=True)
    mine = [r for r in rows if r["pid"] == spinner.pid]
    assert mine, rows
    # A whole core when the host is idle; less when other work competes for the CPUs.
    assert mine[0]["cpu_percent"] >= 10.0
    assert 0.0 < out.value["cpu_percent"] <= 100.0


async def test_top_by_memory_finds_the_hog(hog):
    out = await run_action("proc.top", {"interval": 0.1, "sort": "mem", "count": 10})
    rows = out.value["processes"]
    assert [r["rss"] for r in rows] == sorted((r["rss"] for r in rows), reverse=True)
    mine = [r for r in rows if r["pid"] == hog.pid]
    assert mine and mine[0]["rss"] >= 400 << 20


def test_busy_percent():
    class T:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    a = T(user=100.0, nice=0.0, system=50.0, idle=800.0, iowait=50.0)
    b = T(user=150.0, nice=0.0, system=75.0, idle=850.0, iowait=75.0)
    assert busy_percent(a, b) == 50.0  # 75 busy of 150
    assert busy_percent(a, a) == 0.0
    assert time.monotonic() > 0


@pytest.mark.parametrize("params", [{"interval": 0}, {"count": 0}, {"sort": "io"}, {"pid": 1}])
async def test_top_bad_params(params):
    assert (await run_action("proc.top", params)).code == "A002"
