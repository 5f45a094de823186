from __future__ import annotations

import os

import pytest

from agent_core.testing import run_action
from plugins.services import failed

SYSTEMD = os.path.isdir("/run/systemd/system")


async def test_failed_units_and_reset(systemd_host):
    run_action = systemd_host.run_action
    with systemd_host.temp_unit("/bin/false") as unit:
        assert (await run_action("svc.start", {"name": unit})).code == "A014"
        out = await run_action("svc.failed", {})
        assert out.ok, out.message
        mine = [f for f in out.value["failed"] if f["unit"] == unit]
        assert mine and mine[0]["result"] == "exit-code" and mine[0]["exit_status"] == 1
        out = await run_action("svc.failed.reset", {"unit": unit})
        assert out.ok and unit in out.value["reset"] and unit not in out.value["still_failed"]
        out = await run_action("svc.failed.reset", {"unit": unit})
        assert out.code == "A017"


async def test_failed_where_systemd_does_not_run():
    if SYSTEMD:
        pytest.skip("systemd runs on this host: its absence is not exercised")
    assert (await run_action("svc.failed", {})).code == "A003"
    assert (await run_action("svc.failed.reset", {})).code == "A003"


async def test_failed_bad_params(systemd_host, bad_params):
    bad_params(failed.failed, {"type": 3})
    bad_params(failed.reset, {"unit": "x", "all": True})
    expected = "A002"
    assert (await systemd_host.run_action("svc.failed", {"type": 3})).code == expected
    out = await systemd_host.run_action("svc.failed.reset", {"unit": "x", "all": True})
    assert out.code == expected
