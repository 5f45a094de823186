"""`starling up --transport quic|http` end to end: the proxy serves every
carrier at once and the agents run jobs over the one they were told to use."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from .conftest import starling

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("transport", ["quic", "http"])
def test_up_and_run_over(transport, tmp_path):
    home = tmp_path / transport
    proc = starling(home, "up", "--agents", "2", "--transport", transport, "--port", "0", "--detach", "--no-demo", timeout=180)
    assert proc.returncode == 0, proc.stderr
    try:
        doc = json.loads(starling(home, "run", "--all", "--json", "--", "echo via-" + transport).stdout)
        assert [h["stdout"] for h in doc["hosts"]] == [f"via-{transport}\n"] * 2
        hosts = json.loads(starling(home, "hosts", "--json").stdout)["hosts"]
        assert {h["carrier"] for h in hosts} == {transport}
    finally:
        starling(home, "down")


def test_readme_first_command(tmp_path):
    """What a new user does: the README's first command, then a run."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    readme = open(os.path.join(root, "README.md")).read()
    first = next(line.split("#")[0].strip() for line in readme.splitlines() if line.startswith("./"))
    assert first == "./dev up"
    home = tmp_path / "readme"
    env = dict(os.environ, STARLING_HOME=str(home), COLUMNS="160")
    proc = subprocess.run([os.path.join(root, "dev"), "up", "--port", "0", "--agents", "3"], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    try:
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = proc.stdout + proc.stderr
        assert "Starling is up" in out and "3 hosts succeeded" in out and "hello from" in out
    finally:
        starling(home, "down")
