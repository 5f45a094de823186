from __future__ import annotations

import os

from agent_core.testing import run_action
from plugins.services import units

SYSTEMD = os.path.isdir("/run/systemd/system")


async def test_list_units(temp_unit):
    if not SYSTEMD:
        out = await run_action("svc.list", {})
        assert out.code == "A003" and "systemd" in out.message
        return
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
    assert (await run_action("svc.list", {"type": "bogus"})).code == ("A002" if SYSTEMD else "A003")
    assert (await run_action("svc.list", {"pattern": "-x"})).code == ("A002" if SYSTEMD else "A003")
    assert (await run_action("svc.list", {"all": "yes"})).code == ("A002" if SYSTEMD else "A003")
    bad_params(units.list_units, {"all": "yes"})


def test_list_output_parsing():
    from plugins.services._systemd import parse_list

    text = "● foo.service loaded failed failed Foo daemon\n  bar.service loaded active running Bar with  two spaces\n"
    assert parse_list(text, 5) == [
        ["foo.service", "loaded", "failed", "failed", "Foo daemon"],
        ["bar.service", "loaded", "active", "running", "Bar with  two spaces"],
    ]
