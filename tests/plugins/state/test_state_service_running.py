"""service.running: A003 without systemd; plan logic on systemctl show's output; bad params."""

from __future__ import annotations

import os
import shutil

import msgspec
import pytest

from agent_core import ActionError
from agent_core.host import PluginHost
from agent_core.testing import run_action
from plugins.state.service_running import parse_show, plan, unit_name


def _systemd() -> bool:
    return os.path.isdir("/run/systemd/system") and bool(shutil.which("systemctl"))


def test_plan_from_systemctl_show():
    stopped = parse_show("LoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\n")
    assert plan(stopped, True, True) == [("start", "active", "inactive -> active"), ("enable", "enabled", "disabled -> enabled")]
    assert plan(stopped, False, None) == []
    running = parse_show("LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=static\n")
    assert plan(running, True, True) == []  # static units cannot be enabled: nothing to do
    assert plan(running, False, False) == [("stop", "active", "active -> inactive")]


def test_unit_names():
    assert unit_name("nginx") == "nginx.service" and unit_name("getty@tty1.service") == "getty@tty1.service"
    for bad in ("-H", "a b", "x;reboot", ""):
        with pytest.raises(ActionError) as err:
            unit_name(bad)
        assert err.value.code == "A002"


async def test_service_running_real_or_unavailable():
    out = await run_action("service.running", {"name": "starling-no-such-unit", "dry_run": True})
    if _systemd():
        assert out.code == "A017", out.message
    else:
        assert out.code == "A003" and "systemd" in out.message


def test_service_running_bad_params():
    act = PluginHost().load("service.running").actions["service.running"]
    for bad in ({}, {"name": "x", "running": "yes"}):
        with pytest.raises(ActionError) as err:
            act.decode_params(msgspec.msgpack.encode(bad))
        assert err.value.code == "A002"
