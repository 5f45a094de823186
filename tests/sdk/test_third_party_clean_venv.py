"""The plugin-author path end to end, in a clean virtual environment: a package made by
the starter kit installs the SDK distribution (``starling-fleet`` without extras: the
agent side, no server stack), passes its own tests with pytest, reports the version from
its pyproject.toml (its one version source) and runs with ``starling-agent call``.

Slow (a venv and a dependency install from the local package index); skipped with its
reason when no index can serve the dependencies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent_core.host import new_plugin

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(1200)


def _run(*argv: str | Path, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_scaffolded_plugin_in_a_clean_venv(tmp_path):
    # The SDK distribution, built from this tree (no network: the dev venv's setuptools).
    built = _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", ROOT)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("starling_fleet-*.whl")
    env = tmp_path / "env"
    made = _run(sys.executable, "-m", "venv", env)
    assert made.returncode == 0, made.stderr
    py = env / "bin" / "python"
    assert _run(py, "-c", "import agent_core").returncode != 0  # clean: nothing of ours yet

    sdk = _run(py, "-m", "pip", "install", "-q", wheel)
    if sdk.returncode != 0 and ("No matching distribution" in sdk.stderr or "Could not find a version" in sdk.stderr):
        pytest.skip(f"no package index serves the SDK's dependencies here: {sdk.stderr.strip().splitlines()[-1]}")
    assert sdk.returncode == 0, sdk.stderr[-3000:]

    root = new_plugin("thirdparty.demo", tmp_path / "src")
    kit = _run(py, "-m", "pip", "install", "-q", "-e", f"{root}[test]")
    assert kit.returncode == 0, kit.stderr[-3000:]

    # The right distribution: the SDK and the agent, not the server stack.
    listed = _run(py, "-m", "pip", "list", "--format=json")
    dists = {d["name"].lower(): d["version"] for d in json.loads(listed.stdout)}
    assert "starling-fleet" in dists and "starling-thirdparty-demo" in dists
    assert not {"sqlalchemy", "hypercorn", "starlette", "alembic", "rich"} & set(dists), sorted(dists)

    tests = _run(py, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=root)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "2 passed" in tests.stdout

    # One version source: pyproject.toml's version is what the agent reports.
    probe = "from agent_core.host import PluginHost; print(PluginHost().load('thirdparty.demo').info.version)"
    assert _run(py, "-c", probe).stdout.strip() == "0.1.0"
    assert "version" not in (root / "starling_thirdparty_demo" / "plugin.py").read_text().split("PLUGIN = ", 1)[1].split("\n")[0]

    call = _run(env / "bin" / "starling-agent", "call", "thirdparty.demo.hello", "name=ops")
    assert call.returncode == 0, call.stderr
    assert json.loads(call.stdout)["data"]["text"] == "hello ops"
