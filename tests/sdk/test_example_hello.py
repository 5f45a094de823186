"""examples/starling-hello, the third-party example package: installed (./dev does
`pip install -e --no-deps examples/*/`), its own test suite passes when run the
way its author runs it, and its actions run through agent_core.testing here."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from agent_core.host import PluginHost
from agent_core.testing import run_action

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "starling-hello"
INSTALL = f"install it: {sys.executable} -m pip install -e --no-deps {EXAMPLE} (./dev install does)"


def test_installed_from_the_example_directory():
    eps = {ep.name: ep for ep in entry_points(group="starling.plugins")}
    assert "hello" in eps, INSTALL
    assert eps["hello"].value == "starling_hello.plugin" and eps["hello"].dist.name == "starling-hello"
    import starling_hello

    assert Path(starling_hello.__file__).resolve().parent == EXAMPLE / "starling_hello", INSTALL


def test_example_suite_passes_in_a_subprocess():
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=EXAMPLE, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert " passed" in run.stdout and "failed" not in run.stdout


async def test_greet_and_fortune_through_run_action():
    out = await run_action("hello.greet", {"name": "ci"})
    assert out.ok and out.value["text"] == "hello ci"
    out = await run_action("hello.fortune", {"index": 0})
    first = next(
        line.strip()
        for line in (EXAMPLE / "starling_hello" / "fortunes.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert out.ok and out.value["text"] == first


def test_listed_as_a_third_party_plugin():
    info = PluginHost().load("hello").describe()
    assert info["available"] and info["version"] == "0.1.0"
    assert info["actions"] == ["hello.fortune", "hello.greet"]
    assert info["source"] == "starling-hello:starling_hello.plugin"
