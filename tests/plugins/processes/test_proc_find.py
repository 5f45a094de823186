"""proc.find agrees with pgrep on a child with a unique command line."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from agent_core.testing import run_action, spawned


@pytest.fixture
def child():
    proc = spawned(["sleep", "48.123"])
    yield proc
    proc.kill()
    proc.wait()


def _pgrep(pattern: str) -> list[int]:
    if shutil.which("pgrep") is None:
        pytest.skip("pgrep (procps) not installed")
    res = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return sorted(int(x) for x in res.stdout.split())


async def test_find_by_cmdline_matches_pgrep(child):
    out = await run_action("proc.find", {"pattern": r"sleep 48\.123"})
    assert out.ok, out.message
    assert [p["pid"] for p in out.value["processes"]] == [child.pid] == _pgrep(r"sleep 48\.123")
    assert out.value["count"] == 1


async def test_find_by_name_and_case(child):
    out = await run_action("proc.find", {"pattern": "^SLEEP$", "match": "name", "ignore_case": True})
    assert child.pid in [p["pid"] for p in out.value["processes"]]
    none = await run_action("proc.find", {"pattern": "^SLEEP$", "match": "name"})
    assert child.pid not in [p["pid"] for p in none.value["processes"]]


async def test_find_by_exe_and_never_itself(child):
    out = await run_action("proc.find", {"pattern": "/sleep$", "match": "exe"})
    assert child.pid in [p["pid"] for p in out.value["processes"]]
    me = await run_action("proc.find", {"pattern": "pytest|python"})
    assert os.getpid() not in [p["pid"] for p in me.value["processes"]]


@pytest.mark.parametrize("params", [{"pattern": "("}, {"pattern": ""}, {"pattern": "x", "match": "env"}, {"pattern": "x", "limit": 0}, {"name": "x"}])
async def test_find_bad_params(params):
    assert (await run_action("proc.find", params)).code == "A002"
