"""hw.cpuusage: a busy child process shows up in the sample."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent_core.testing import run_action
from plugins.hardware.cpuusage import split


@pytest.fixture
def spinner():
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield proc
    proc.kill()
    proc.wait()


async def test_usage_sees_a_busy_process(spinner):
    out = await run_action("hw.cpuusage", {"interval": 0.5, "per_cpu": True})
    assert out.ok, out.message
    v = out.value
    total = v["total"]
    parts = sum(total[k] for k in ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"))
    assert abs(parts - 100.0) < 0.2
    assert total["busy"] == pytest.approx(100.0 - total["idle"] - total["iowait"], abs=0.02)
    # One core spinning: at least a large part of one CPU's share is busy.
    n = len(v["cpus"])
    assert total["busy"] >= 50.0 / n
    assert max(c["busy"] for c in v["cpus"]) >= 50.0
    assert v["busiest"] == max(v["cpus"], key=lambda c: c["busy"])["cpu"]
    assert v["context_switches_per_s"] > 0 and v["interrupts_per_s"] > 0


async def test_per_cpu_off_by_default():
    out = await run_action("hw.cpuusage", {"interval": 0.1})
    assert out.ok and out.value["cpus"] == []


def test_split_arithmetic():
    before = [100, 0, 50, 800, 50, 0, 0, 0, 0, 0]
    after = [200, 0, 100, 850, 100, 0, 0, 0, 0, 0]  # +100 user +50 sys +50 idle +50 iowait
    s = split("cpu0", before, after)
    assert (s.user, s.system, s.idle, s.iowait, s.busy) == (40.0, 20.0, 20.0, 20.0, 60.0)


@pytest.mark.parametrize("params", [{"interval": 0}, {"interval": 61}, {"interval": "1s"}, {"cpus": [0]}])
async def test_usage_bad_params(params):
    assert (await run_action("hw.cpuusage", params)).code == "A002"
