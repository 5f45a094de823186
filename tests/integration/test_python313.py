"""The whole system under Python 3.13 (Debian 13's Python): center, proxy, agents
and CLI from a 3.13 virtual environment, with 3.13's strict certificate
verification on every link. The rest of the suite runs on the default 3.11."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-py313"


def _python313() -> str | None:
    found = sorted(glob.glob("/root/.pyenv/versions/3.13*/bin/python3.13")) + sorted(glob.glob("/usr/bin/python3.13"))
    return found[-1] if found else None


def _venv() -> Path:
    """A 3.13 venv with Starling (center, CLI, agent) installed, rebuilt when pyproject changes."""
    py = _python313()
    if py is None:
        pytest.skip("no Python 3.13 here (pyenv or /usr/bin/python3.13)")
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / ".stamp"
    if not (stamp.exists() and stamp.read_text() == want):
        subprocess.run([py, "-m", "venv", "--clear", str(VENV)], check=True, timeout=120)
        proc = subprocess.run(
            [str(VENV / "bin/python"), "-m", "pip", "install", "-q", "-e", f"{ROOT}[center,cli]"],
            capture_output=True, text=True, timeout=600,
        )
        if proc.returncode != 0:
            pytest.fail(f"installing into the 3.13 venv failed:\n{proc.stderr[-3000:]}")
        stamp.write_text(want)
    return VENV


def test_center_proxy_agents_and_cli_on_python_313(tmp_path):
    venv = _venv()
    env = dict(os.environ, STARLING_HOME=str(tmp_path), COLUMNS="200")
    env.pop("STARLING_API", None)

    def starling(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(venv / "bin/starling"), *args], capture_output=True, text=True, env=env, timeout=timeout)

    up = starling("up", "--agents", "2", "--port", "0", "--detach", "--no-demo")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        cmd = "python3 -c 'import sys; print(sys.version_info[:2])' >/dev/null; echo from-313"
        doc = json.loads(starling("run", "--all", "--json", "--", cmd).stdout)
        assert doc["counts"] == {"succeeded": 2}, doc
        assert {h["stdout"] for h in doc["hosts"]} == {"from-313\n"}
        # Every role really is the 3.13 interpreter.
        profile = json.loads((tmp_path / "up.json").read_text())
        for role in profile["roles"] + profile["agents"]:
            exe = os.readlink(f"/proc/{role['pid']}/exe")
            assert "3.13" in exe, (role, exe)
    finally:
        starling("down")
