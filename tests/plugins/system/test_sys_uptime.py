"""sys.uptime against /proc and psutil read around the call."""

from __future__ import annotations

import os

import psutil

from agent_core.testing import run_action
from plugins.system.uptime import human_duration


def _uptime() -> float:
    with open("/proc/uptime") as fh:
        return float(fh.read().split()[0])


async def test_uptime_between_two_readings():
    before = _uptime()
    out = await run_action("sys.uptime")
    after = _uptime()
    assert out.ok, out.message
    v = out.value
    assert before <= v["uptime"] <= after
    assert abs(v["boot_time"] - psutil.boot_time()) < 2
    assert v["cpus"] == os.cpu_count()
    assert 0.0 <= v["idle_ratio"] <= 1.0
    assert v["load1_per_cpu"] == round(v["load1"] / v["cpus"], 3)
    assert v["tasks"] >= v["runnable"] >= 1  # at least this process is runnable
    assert v["sessions"] == len(psutil.users())


def test_human_duration():
    assert human_duration(59) == "59s"
    assert human_duration(61) == "1m"
    assert human_duration(3 * 3600 + 120) == "3h 2m"
    assert human_duration(86400 + 3600 + 60) == "1d 1h 1m"


async def test_uptime_bad_params():
    assert (await run_action("sys.uptime", {"since": 1})).code == "A002"
