from __future__ import annotations

import os

import pytest

from agent_core.testing import run_action
from plugins.services import svc

SYSTEMD = os.path.isdir("/run/systemd/system")


async def test_svc_control_cycle(temp_unit):
    if not SYSTEMD:
        for verb in ("start", "stop", "restart", "reload", "daemon_reload"):
            out = await run_action(
                f"svc.{verb}", {} if verb == "daemon_reload" else {"unit": "cron"}
            )
            assert out.code == "A003" and "systemd" in out.message
        pytest.skip("a running systemd (/run/systemd/system) absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    with temp_unit() as unit:
        out = await run_action("svc.start", {"unit": unit})
        assert out.ok, out.message
        assert out.value["active_state"] == "active" and out.value["main_pid"]
        pid = out.value["main_pid"]
        out = await run_action("svc.restart", {"unit": unit})
        assert out.ok and out.value["main_pid"] != pid
        out = await run_action("svc.reload", {"unit": unit})
        assert out.ok and out.value["active_state"] == "active"
        out = await run_action("svc.stop", {"unit": unit})
        assert out.ok and out.value["active_state"] == "inactive" and out.value["main_pid"] is None
        assert (await run_action("svc.daemon_reload")).ok


async def test_svc_failing_unit_and_missing_unit(temp_unit):
    if not SYSTEMD:
        assert (await run_action("svc.start", {"unit": "no-such-unit-xyz"})).code == "A003"
        pytest.skip("a running systemd (/run/systemd/system) absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    with temp_unit("/bin/false") as unit:
        out = await run_action("svc.start", {"unit": unit})
        assert out.code == "A014" and "failed" in out.message
    out = await run_action("svc.start", {"unit": "starling-no-such-unit"})
    assert out.code == "A017"


async def test_svc_bad_params(bad_params, invalid_unit):
    # The params checks themselves run everywhere; the answers through a running plugin need systemd.
    bad_params(svc.restart, {})
    bad_params(svc.start, {"unit": "cron", "force": True})
    invalid_unit("../etc/passwd")
    invalid_unit("-H")
    if not SYSTEMD:
        pytest.skip("a running systemd (/run/systemd/system) absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    expected = "A002"
    assert (await run_action("svc.start", {"unit": "../etc/passwd"})).code == expected
    assert (await run_action("svc.stop", {"unit": "-H"})).code == expected
    assert (await run_action("svc.restart", {})).code == expected
