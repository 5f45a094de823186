from __future__ import annotations

import os

import pytest

from agent_core.testing import run_action
from plugins.services import failed

SYSTEMD = os.path.isdir("/run/systemd/system")


async def test_failed_units_and_reset(temp_unit):
    if not SYSTEMD:
        assert (await run_action("svc.failed", {})).code == "A003"
        assert (await run_action("svc.failed.reset", {})).code == "A003"
        pytest.skip("a running systemd (/run/systemd/system) absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    with temp_unit("/bin/false") as unit:
        await run_action("svc.start", {"unit": unit})
        out = await run_action("svc.failed", {})
        assert out.ok, out.message
        mine = [f for f in out.value["failed"] if f["unit"] == unit]
        assert mine and mine[0]["result"] == "exit-code" and mine[0]["exit_status"] == 1
        out = await run_action("svc.failed.reset", {"unit": unit})
        assert out.ok and unit in out.value["reset"] and unit not in out.value["still_failed"]
        out = await run_action("svc.failed.reset", {"unit": unit})
        assert out.code == "A017"


async def test_failed_bad_params(bad_params):
    bad_params(failed.failed, {"type": 3})
    bad_params(failed.reset, {"unit": "x", "all": True})
    if not SYSTEMD:
        pytest.skip("a running systemd (/run/systemd/system) absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    expected = "A002"
    assert (await run_action("svc.failed", {"type": 3})).code == expected
    assert (await run_action("svc.failed.reset", {"unit": "x", "all": True})).code == expected
