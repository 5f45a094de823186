from __future__ import annotations

import os
import subprocess
import uuid

import msgspec
import pytest

from agent_core import ActionError
from agent_core.testing import run_action
from plugins.scheduling import timer_list

SYSTEMD = os.path.isdir("/run/systemd/system")


def _install_timer(name: str) -> None:
    with open(f"/run/systemd/system/{name}.service", "w") as fh:
        fh.write("[Service]\nType=oneshot\nExecStart=/bin/true\n")
    with open(f"/run/systemd/system/{name}.timer", "w") as fh:
        fh.write("[Timer]\nOnCalendar=*-*-* 03:00:00\nPersistent=true\n")
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    subprocess.run(["systemctl", "start", f"{name}.timer"], check=True)


def _remove_timer(name: str) -> None:
    subprocess.run(["systemctl", "stop", f"{name}.timer"], capture_output=True)
    for suffix in ("service", "timer"):
        path = f"/run/systemd/system/{name}.{suffix}"
        if os.path.exists(path):
            os.unlink(path)
    subprocess.run(["systemctl", "daemon-reload"], check=True)


async def test_timer_list():
    if not SYSTEMD:
        out = await run_action("sched.timer.list", {})
        assert out.code == "A003" and "systemd" in out.message
        pytest.skip("a running systemd (/run/systemd/system) absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    name = f"starling-test-{uuid.uuid4().hex[:8]}"
    _install_timer(name)
    try:
        out = await run_action("sched.timer.list", {"pattern": "starling-test-*"})
        assert out.ok, out.message
        (t,) = out.value["timers"]
        assert t["timer"] == f"{name}.timer" and t["activates"] == f"{name}.service"
        assert t["calendar"] == ["*-*-* 03:00:00"] and t["persistent"] and t["active"] == "active"
    finally:
        _remove_timer(name)


async def test_timer_list_bad_params():
    try:
        timer_list.timer_list.decode_params(msgspec.msgpack.encode({"all": "yes"}))
    except ActionError as exc:
        assert exc.code == "A002"
    else:
        raise AssertionError("sched.timer.list accepted all='yes'")
    if not SYSTEMD:
        pytest.skip("a running systemd (/run/systemd/system) absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    out = await run_action("sched.timer.list", {"pattern": "-x"})
    assert out.code == "A002"


def test_timer_expressions_parsing():
    calendar = "{ OnCalendar=*-*-* 03:00:00 ; next_elapse=Thu 2024-05-02 03:00:00 UTC } { OnCalendar=Mon *-*-* 01:00:00 ; next_elapse=n/a }"
    assert timer_list._exprs(calendar) == ["*-*-* 03:00:00", "Mon *-*-* 01:00:00"]
    assert timer_list._exprs("{ OnUnitActiveUSec=1d ; next_elapse=1d 2h }") == ["1d"]
