"""sys.reboot: validation and dry runs only. These tests never let it reboot."""

from __future__ import annotations

import shutil
import time

import pytest

from agent_core.testing import run_action


async def test_dry_run_plans_a_real_command():
    t0 = time.time()
    out = await run_action("sys.reboot", {"reason": "kernel 6.1.0-18 update", "dry_run": True})
    assert out.ok, out.message
    v = out.value
    assert v["dry_run"] is True and v["started"] is False
    assert shutil.which(v["command"][0]), v["command"]
    assert v["method"] == v["command"][0]
    assert v["at"] >= t0 - 1


async def test_dry_run_delayed_uses_shutdown():
    out = await run_action("sys.reboot", {"reason": "maintenance window", "delay_minutes": 15, "dry_run": True})
    if shutil.which("shutdown") is None:
        assert out.code == "A003"
        pytest.skip("shutdown absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    assert out.ok, out.message
    assert out.value["command"][:3] == ["shutdown", "-r", "+15"]
    assert out.value["command"][-1] == "maintenance window"
    assert out.value["at"] - time.time() > 14 * 60


@pytest.mark.parametrize(
    "params",
    [
        {"dry_run": True},
        {"reason": "", "dry_run": True},
        {"reason": "  x ", "dry_run": True},
        {"reason": "r" * 201, "dry_run": True},
        {"reason": "valid reason", "delay_minutes": -1, "dry_run": True},
        {"reason": "valid reason", "delay_minutes": 1441, "dry_run": True},
        {"reason": "valid reason", "dry_run": True, "force": True},
        {"reason": "valid reason", "delay_minutes": "soon", "dry_run": True},
    ],
)
async def test_bad_params_are_refused_before_anything_runs(params):
    out = await run_action("sys.reboot", params)
    assert out.code == "A002", out.message
