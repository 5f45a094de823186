"""Renamed actions and plugins on the agent (transports/renamed.toml): an old action
name does not run (A001 naming the new one), and an old plugin name in the agent's
config or its persisted enable/disable list still means the plugin it meant."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from agent_core._config import load_config
from agent_core.host import Kernel, PluginHost
from agent_core.testing import run_action
from transports import renamed_actions


async def test_an_old_action_name_does_not_run_and_names_the_new_one(tmp_path: Path) -> None:
    host = PluginHost()
    for old, new in renamed_actions().items():
        out = await run_action(old, {}, host=host, state_dir=tmp_path)
        assert out.code == "A001" and f"renamed to {new!r}" in out.message, (old, out.message)
    out = await run_action("no.such.action", {}, host=host, state_dir=tmp_path)
    assert out.code == "A001" and "renamed" not in out.message


def test_starling_agent_call_with_an_old_name(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "agent_core._daemon", "call", "sys.os", "--state-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["code"] == "A001"
    assert "A001" in proc.stderr and "renamed to 'sys.osrelease'" in proc.stderr


def test_old_plugin_names_in_the_agent_config_are_read_as_the_new_ones(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('[agent]\ndisabled_plugins = ["docker.ps", "disk.usage"]\n\n[agent.plugin_config.exporter]\nenabled = true\n')
    with caplog.at_level(logging.WARNING, logger="starling.agent"):
        cfg = load_config(path, env={})
    assert cfg.disabled_plugins == ["container.docker.ps", "disk.usage"]
    assert cfg.plugin_config == {"agent.exporter": {"enabled": True}}
    assert "'docker.ps'" in caplog.text and "'exporter'" in caplog.text


async def test_a_plugin_disabled_under_its_old_name_stays_disabled(tmp_path: Path) -> None:
    host = PluginHost(disabled={"cmd"})
    out = await run_action("exec.run", {"cmd": "true"}, host=host, state_dir=tmp_path)
    assert out.code == "A012"
    # The persisted list written by an older agent (`agent.disable` of "docker.ps").
    (tmp_path / "plugins.json").write_text(json.dumps({"disabled": ["docker.ps"]}))
    host = PluginHost()
    Kernel(host, tmp_path)
    assert "container.docker.ps" in host.disabled
    out = await run_action("container.docker.ps", {}, host=host, state_dir=tmp_path)
    assert out.code == "A012"


def test_enable_and_disable_take_old_plugin_names(tmp_path: Path) -> None:
    host = PluginHost()
    kernel = Kernel(host, tmp_path)
    assert "hw.swap" in kernel.set_enabled(["mem.swap"], False)
    assert "hw.swap" not in kernel.set_enabled(["mem.swap"], True)
