from __future__ import annotations

import os
import uuid

import msgspec
import pytest

from agent_core import ActionError
from agent_core.testing import run_action
from plugins.scheduling import timer_list

SYSTEMD = os.path.isdir("/run/systemd/system")


TIMER = "[Timer]\nOnCalendar=*-*-* 03:00:00\nPersistent=true\n"


async def test_timer_list(systemd_host):
    name = f"starling-test-{uuid.uuid4().hex[:8]}"
    service = "[Service]\nType=oneshot\nExecStart=/bin/true\n"
    with systemd_host.units({f"{name}.service": service, f"{name}.timer": TIMER}):
        systemd_host.systemctl("start", f"{name}.timer")
        out = await systemd_host.run_action("sched.timer.list", {"pattern": "starling-test-*"})
        assert out.ok, out.message
        (t,) = out.value["timers"]
        assert t["timer"] == f"{name}.timer" and t["activates"] == f"{name}.service"
        assert t["calendar"] == ["*-*-* 03:00:00"] and t["persistent"] and t["active"] == "active"
        assert "03:00:00" in t["next_elapse"]  # computed by the running systemd


async def test_timer_list_where_systemd_does_not_run():
    if SYSTEMD:
        pytest.skip("systemd runs on this host: its absence is not exercised")
    out = await run_action("sched.timer.list", {})
    assert out.code == "A003" and "systemd" in out.message


async def test_timer_list_bad_params(systemd_host):
    try:
        timer_list.timer_list.decode_params(msgspec.msgpack.encode({"all": "yes"}))
    except ActionError as exc:
        assert exc.code == "A002"
    else:
        raise AssertionError("sched.timer.list accepted all='yes'")
    out = await systemd_host.run_action("sched.timer.list", {"pattern": "-x"})
    assert out.code == "A002"


def test_timer_expressions_parsing():
    calendar = "{ OnCalendar=*-*-* 03:00:00 ; next_elapse=Thu 2024-05-02 03:00:00 UTC } { OnCalendar=Mon *-*-* 01:00:00 ; next_elapse=n/a }"
    assert timer_list._exprs(calendar) == ["*-*-* 03:00:00", "Mon *-*-* 01:00:00"]
    assert timer_list._exprs("{ OnUnitActiveUSec=1d ; next_elapse=1d 2h }") == ["1d"]
