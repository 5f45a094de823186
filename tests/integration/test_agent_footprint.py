"""The idle agent's footprint, guarded without timing anything (docs/benchmarks.md,
"Agent footprint"): a real agent daemon enrolls with a real center, connects to a real
proxy over TCP+TLS, starts its resident, settles, and then its ``sys.modules`` holds
none of the modules the idle agent must not carry, and of the plugins only the
resident's.

The daemon runs under a small launcher that only adds a SIGUSR1 handler writing
``sorted(sys.modules)`` to a file; everything else is ``agent_core._daemon.main``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from agent_core._daemon import SETTLE
from transports import free_port

from .conftest import Fleet

pytestmark = pytest.mark.integration

AGENTS = 0

#: Module (or package) -> why the idle agent must not hold it.
FORBIDDEN = {
    "urllib.request": "registration's HTTP client runs in a child (agent_core._register)",
    "http.client": "registration's HTTP client runs in a child",
    "email": "pulled by urllib and importlib.metadata",
    "importlib.metadata": "the index child reads the entry points (agent_core._declare)",
    "zipfile": "only the wheel installer needs it",
    "configparser": "only the wheel installer needs it (agent_core._kernel)",
    "argparse": "the daemon's usual command line is read without it",
    "pycparser": "libc calls go through the pre-parsed cffi module",
    "encodings.idna": "ASCII host names go to getaddrinfo and ssl as bytes (transports._tcp)",
    "stringprep": "pulled by the idna codec",
    "shlex": "only a command given as a string needs it (ActionContext.run)",
    "secrets": "private files get their random suffix from os.urandom",
    "transports._guard": "the pre-login bounds are a server's",
    "agent_core._executor": "loaded with the first task",
    "agent_core._pty": "loaded with the first terminal",
    "httpx": "the HTTP carrier is loaded only when used",
    "h11": "the HTTP carrier is loaded only when used",
    "aioquic": "the QUIC carrier is loaded only when used",
    "cryptography": "Ed25519 goes through PyNaCl; X.509 only in tools",
    "OpenSSL": "pyOpenSSL comes with the QUIC carrier",
    "sqlalchemy": "the server stack",
    "starlette": "the server stack",
    "hypercorn": "the server stack",
    "rich": "the command line",
    "bashlex": "the center's command checks",
    "center": "the server stack",
    "contrib": "the server stack",
}

LAUNCHER = """
import json, os, signal, sys

def dump(signum, frame):
    tmp = sys.argv[2] + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(sorted(sys.modules), fh)
    os.replace(tmp, sys.argv[2])

signal.signal(signal.SIGUSR1, dump)
from agent_core._daemon import main
sys.exit(main(["--config", sys.argv[1]]))
"""


def _wait_log(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Until a line of ``log`` matches the regular expression ``text``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if log.exists() and re.search(text, log.read_text()):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"agent never logged {text!r} (exit {proc.poll()}):\n{log.read_text() if log.exists() else ''}")


def _resident_plugin() -> tuple[str, str]:
    """The built-in resident plugin: ``(name, module)``."""
    ep = next(ep for ep in entry_points(group="starling.residents") if ep.value.startswith("plugins."))
    return ep.name, ep.value.split(":")[0]


def _idle_agent(fleet: Fleet, tmp_path: Path) -> list[str]:
    """The modules of a real agent once connected, its resident up, and settled."""
    profile = fleet.profile
    token = json.loads((fleet.home / "secrets.json").read_text())["enroll_token"]
    state = tmp_path / "agent"
    state.mkdir()
    (state / "identity.toml").write_text('sn = "footprint-guard-1"\nhostname = "footprint-guard"\nidc = "local"\n')
    conf = tmp_path / "agent.toml"
    conf.write_text(
        "[agent]\n"
        f"center = [{json.dumps(profile['api'])}]\n"
        f"enroll_token = {json.dumps(token)}\n"
        f"ca_file = {json.dumps(profile['ca_file'])}\n"
        f"state_dir = {json.dumps(str(state))}\n"
        f"cache_dir = {json.dumps(str(fleet.home / 'cache'))}\n"
        f"identity_file = {json.dumps(str(state / 'identity.toml'))}\n"
        'transport = "tcp"\n'
        f"log_file = {json.dumps(str(state / 'agent.log'))}\n"
        # A resident, as `starling up` configures: its plugin is the one plugin an idle agent imports.
        f"[agent.plugin_config.{json.dumps(_resident_plugin()[0])}]\n"
        f"enabled = true\nport = {free_port()}\n"
    )
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    dump = tmp_path / "modules.json"
    log = state / "agent.log"
    with open(tmp_path / "agent.out", "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(launcher), str(conf), str(dump)], stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        _wait_log(log, "connected to proxy", proc, 180)
        _wait_log(log, r"resident \S+ started", proc, 60)
        time.sleep(SETTLE + 1)  # past the settle step (heap trimmed once connected)
        proc.send_signal(signal.SIGUSR1)
        end = time.monotonic() + 30
        while not dump.exists() and time.monotonic() < end:
            time.sleep(0.2)
        assert dump.exists(), (tmp_path / "agent.out").read_text()
        modules: list[str] = json.loads(dump.read_text())
        return modules
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_the_idle_agent_holds_only_what_idle_needs(fleet: Fleet, tmp_path: Path) -> None:
    modules = _idle_agent(fleet, tmp_path)
    held = {m: why for m, why in FORBIDDEN.items() if any(n == m or n.startswith(m + ".") for n in modules)}
    assert held == {}, f"the idle agent imported: {held}"
    # Plugins load lazily: at idle, only the residents' plugin modules (and their packages).
    residents = {ep.value.split(":")[0] for ep in entry_points(group="starling.residents")}
    allowed = residents | {m.rsplit(".", i)[0] for m in residents for i in range(1, m.count(".") + 1)}
    plugin_modules = {m for m in modules if m == "plugins" or m.startswith("plugins.")}
    assert _resident_plugin()[1] in plugin_modules, "the resident never loaded: the check above proves nothing"
    assert plugin_modules <= allowed, f"plugins imported at idle: {sorted(plugin_modules - allowed)}"
