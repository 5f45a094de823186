from __future__ import annotations

import os

import pytest

from agent_core.testing import run_action
from plugins.services import units

SYSTEMD = os.path.isdir("/run/systemd/system")


async def test_list_units(temp_unit):
    if not SYSTEMD:
        out = await run_action("svc.list", {})
        assert out.code == "A003" and "systemd" in out.message
        pytest.skip("a running systemd (/run/systemd/system) absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    with temp_unit() as unit:
        await run_action("svc.start", {"unit": unit})
        out = await run_action("svc.list", {"pattern": "starling-test-*", "state": "running"})
        assert out.ok, out.message
        assert [u["unit"] for u in out.value["units"]] == [unit]
        row = out.value["units"][0]
        assert (row["load"], row["active"], row["sub"], row["description"]) == (
            "loaded",
            "active",
            "running",
            "Starling test unit",
        )
        assert out.value["by_active_state"] == {"active": 1}
    out = await run_action("svc.list", {"type": None, "all": True})
    assert out.ok and sum(out.value["by_active_state"].values()) == len(out.value["units"])


async def test_list_bad_params(bad_params):
    bad_params(units.list_units, {"all": "yes"})
    if not SYSTEMD:
        pytest.skip("a running systemd (/run/systemd/system) absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    assert (await run_action("svc.list", {"type": "bogus"})).code == "A002"
    assert (await run_action("svc.list", {"pattern": "-x"})).code == "A002"
    assert (await run_action("svc.list", {"all": "yes"})).code == "A002"


def test_list_output_parsing():
    from plugins.services._systemd import parse_list

    text = "● foo.service loaded failed failed Foo daemon\n  bar.service loaded active running Bar with  two spaces\n"
    assert parse_list(text, 5) == [
        ["foo.service", "loaded", "failed", "failed", "Foo daemon"],
        ["bar.service", "loaded", "active", "running", "Bar with  two spaces"],
    ]
