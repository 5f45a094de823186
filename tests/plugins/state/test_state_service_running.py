"""state.service.running: the plan on a service's state; a real init script and
daemon driven through the sysv backend (started, unchanged on the second run,
stopped); a real unit through the systemd backend on the systemd host (this machine
where systemd is its init, else a systemd booted in a container); bad params."""

from __future__ import annotations

import os
import signal

import msgspec
import psutil
import pytest

from agent_core import ActionError
from agent_core.host import PluginHost
from agent_core.testing import run_action
from plugins.services._backend import Service
from plugins.state.service_running import plan

SCRIPT = """#!/bin/sh
PIDFILE={pidfile}
case "$1" in
  start) sleep 300 >/dev/null 2>&1 & echo $! > $PIDFILE;;
  stop) [ -f $PIDFILE ] && kill $(cat $PIDFILE) && rm -f $PIDFILE;;
  status) [ -f $PIDFILE ] && kill -0 $(cat $PIDFILE) 2>/dev/null && exit 0; exit 3;;
esac
"""


def _svc(active: str, enabled: str) -> Service:
    return Service(
        name="x.service",
        backend="systemd",
        running=active == "active",
        active_state=active,
        sub_state="",
        enabled=enabled,
    )


def test_plan():
    stopped = _svc("inactive", "disabled")
    assert plan(stopped, True, True) == [
        ("start", "active", "inactive -> active"),
        ("enable", "enabled", "disabled -> enabled"),
    ]
    assert plan(stopped, False, None) == []
    running = _svc("active", "static")
    assert plan(running, True, True) == []  # static units cannot be enabled: nothing to do
    assert plan(running, False, False) == [("stop", "active", "active -> inactive")]
    assert plan(_svc("inactive", ""), False, True) == [("enable", "enabled", "unknown -> enabled")]


@pytest.fixture
def initdir(tmp_path):
    d = tmp_path / "init.d"
    d.mkdir()
    pidfile = tmp_path / "demo.pid"
    (d / "stdemo").write_text(SCRIPT.format(pidfile=pidfile))
    (d / "stdemo").chmod(0o755)
    yield str(d)
    if pidfile.exists():
        pid = int(pidfile.read_text())
        if psutil.pid_exists(pid):
            os.kill(pid, signal.SIGTERM)


async def test_running_through_sysv(initdir, tmp_path):
    params = {"name": "stdemo", "initdir": initdir}
    out = await run_action("state.service.running", {**params, "dry_run": True})
    assert out.ok, out.message
    assert out.value == {
        "name": "stdemo",
        "changed": True,
        "dry_run": True,
        "diff": "active: inactive -> active\n",
        "comment": "would start stdemo",
    }
    assert not (tmp_path / "demo.pid").exists()

    out = await run_action("state.service.running", params)
    assert out.ok and out.value["changed"] and out.value["comment"] == "started stdemo"
    pid = int((tmp_path / "demo.pid").read_text())
    assert psutil.Process(pid).name() == "sleep"
    out = await run_action("state.service.running", params)
    assert out.ok and out.value["changed"] is False

    out = await run_action("state.service.running", {**params, "running": False})
    assert out.ok and out.value["comment"] == "stopped stdemo"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    # Boot links of a private init directory are not managed (update-rc.d works on /etc/init.d only).
    out = await run_action("state.service.running", {**params, "running": False, "enabled": True})
    assert out.code == "A002"


async def test_running_through_systemd(systemd_host):
    run_action = systemd_host.run_action
    with systemd_host.temp_unit(install=True) as unit:
        params = {"name": unit, "enabled": True}
        out = await run_action("state.service.running", {**params, "dry_run": True})
        assert out.ok, out.message
        assert out.value == {
            "name": unit,
            "changed": True,
            "dry_run": True,
            "diff": "active: inactive -> active\nenabled: disabled -> enabled\n",
            "comment": f"would start, enable {unit}",
        }
        assert systemd_host.systemctl("is-active", unit, check=False).stdout.strip() == "inactive"

        out = await run_action("state.service.running", params)
        assert out.ok, out.message
        assert out.value["changed"] and out.value["comment"] == f"started, enabled {unit}"
        assert systemd_host.systemctl("is-active", unit).stdout.strip() == "active"
        assert systemd_host.systemctl("is-enabled", unit).stdout.strip() == "enabled"
        out = await run_action("state.service.running", params)
        assert out.ok and out.value["changed"] is False
        assert out.value["comment"] == f"{unit} is active and enabled"

        out = await run_action("state.service.running", {"name": unit, "running": False, "enabled": False})
        assert out.ok and out.value["diff"] == "active: active -> inactive\nenabled: enabled -> disabled\n"
        assert systemd_host.systemctl("is-active", unit, check=False).stdout.strip() == "inactive"
        assert systemd_host.systemctl("is-enabled", unit, check=False).stdout.strip() == "disabled"


async def test_unknown_service():
    out = await run_action(
        "state.service.running", {"name": "starling-no-such-unit", "dry_run": True}
    )
    assert out.code == "A017", out.message


def test_bad_params():
    act = PluginHost().load("state.service.running").actions["state.service.running"]
    for bad in ({}, {"name": "x", "running": "yes"}, {"name": "-H"}, {"name": "x;reboot"}):
        with pytest.raises(ActionError) as err:
            act.decode_params(msgspec.msgpack.encode(bad))
        assert err.value.code == "A002"
