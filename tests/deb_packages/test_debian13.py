"""Debian 13 (Python 3.13): the agent built with ``--python 3.13`` installs into a clean
trixie root, enrolls with a running center over strict TLS (3.13 verifies X.509
strictly) and runs a command. The bookworm test (test_packages.py) covers the rest of
the package's life; this one covers the second supported Python."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._debroot import BIN, DebRoot, build_packages, stop, wait_for, why_not

SUITE = "trixie"
pytestmark = [
    pytest.mark.packaging,
    pytest.mark.skipif(bool(why_not(SUITE)), reason=why_not(SUITE) or "ok"),
    pytest.mark.skipif(
        not list(Path.home().glob(".pyenv/versions/3.13.*/bin/python3.13")) and shutil.which("python3.13") is None,
        reason="no Python 3.13 to build with (pyenv install 3.13)",
    ),
]


def _starling(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, STARLING_HOME=str(home), COLUMNS="200")
    env.pop("STARLING_API", None)
    return subprocess.run([str(BIN / "starling"), *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("pkg13-center")
    proc = _starling(home, "up", "--agents", "0", "--port", "0", "--detach", "--no-demo", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    try:
        up = json.loads((home / "up.json").read_text())
        yield {"home": home, "api": up["api"], "ca": up["ca_file"], "token": json.loads((home / "secrets.json").read_text())["enroll_token"]}
    finally:
        _starling(home, "down")


def test_agent_on_debian13(tmp_path, center):
    (deb,) = build_packages(tmp_path / "out", "0.1.0", roles="agent", formats="deb", pyv="3.13")
    root = DebRoot(Path(tempfile.mkdtemp(prefix="starling-trixie-")), suite=SUITE)
    try:
        root.install(deb)
        assert root.host("/opt/starling/agent/bin/starling-agent").read_text().startswith("#!/usr/bin/python3.13 -IS\n")
        shutil.copy(center["ca"], root.host("/etc/starling/ca.pem"))
        conf = root.host("/etc/starling/agent.toml")
        conf.write_text(
            conf.read_text()
            .replace('center = ["https://center.example.net:8470"]', f'center = ["{center["api"]}"]')
            .replace('enroll_token = ""', f'enroll_token = "{center["token"]}"')
            .replace('identity_file = ""', 'identity_file = "/etc/starling/identity.toml"')
            # The test box is shared and its CPU pressure can sit near 100 %: the throttle
            # would defer the task (A013), which is not what this test is about.
            + "max_cpu_pressure = 0.0\nmax_load_per_cpu = 1000.0\n"
        )
        root.host("/etc/starling/identity.toml").write_text('sn = "pkg13"\nhostname = "debroot-trixie"\nidc = "local"\n')
        log = tmp_path / "agent.log"
        agent = root.start("/usr/bin/starling-agent", "--config", "/etc/starling/agent.toml", log=log)
        try:
            def online() -> bool:
                out = _starling(center["home"], "hosts", "--json").stdout
                return any(h["hostname"] == "debroot-trixie" and h["online"] for h in json.loads(out)["hosts"]) or agent.poll() is not None

            wait_for(online, 60, "the Debian 13 agent online")
            assert agent.poll() is None, log.read_text()[-3000:]
            out = _starling(center["home"], "run", "--all", "--json", "--", "cat /etc/debian_version; python3.13 --version")
            doc = json.loads(out.stdout)
            host = doc["hosts"][0]
            assert doc["counts"].get("succeeded") == 1, (host.get("code"), host.get("message"), host.get("stderr"), log.read_text()[-2000:])
            stdout = doc["hosts"][0]["stdout"]
            assert stdout.startswith("13.") and "Python 3.13" in stdout
            assert "cannot declare" not in log.read_text()
        finally:
            stop(agent)
    finally:
        root.remove()
