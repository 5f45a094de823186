from __future__ import annotations

import os

from agent_core.testing import run_action
from plugins.services import status

SYSTEMD = os.path.isdir("/run/systemd/system")


async def test_status_of_a_running_unit(temp_unit):
    if not SYSTEMD:
        out = await run_action("svc.status", {"unit": "cron"})
        assert out.code == "A003" and "systemd" in out.message
        return
    with temp_unit() as unit:
        out = await run_action("svc.status", {"unit": unit})
        assert (
            out.ok
            and out.value["active_state"] == "inactive"
            and out.value["load_state"] == "loaded"
        )
        assert out.value["fragment_path"] == f"/run/systemd/system/{unit}"
        await run_action("svc.start", {"unit": unit})
        out = await run_action("svc.status", {"unit": unit, "log_lines": 5})
        assert (
            out.ok and out.value["active_state"] == "active" and out.value["sub_state"] == "running"
        )
        assert out.value["description"] == "Starling test unit" and out.value["main_pid"]
        assert isinstance(out.value["log"], list)


async def test_status_missing_unit_and_bad_params(bad_params, invalid_unit):
    if SYSTEMD:
        assert (await run_action("svc.status", {"unit": "starling-no-such-unit"})).code == "A017"
    expected = "A002" if SYSTEMD else "A003"
    assert (await run_action("svc.status", {"unit": "a b"})).code == expected
    assert (await run_action("svc.status", {"unit": "cron", "log_lines": 1000})).code == expected
    bad_params(status.status, {"unit": "cron", "lines": 5})
    invalid_unit("a b")
