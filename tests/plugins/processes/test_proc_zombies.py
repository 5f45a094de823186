"""proc.zombies finds children this test leaves unreaped, under this test as their parent."""

from __future__ import annotations

import os
import subprocess
import time

import psutil
import pytest

from agent_core.testing import run_action
from plugins.processes.zombies import parse_stat


@pytest.fixture
def zombies():
    """Three exited children not yet waited for: zombies of this process."""
    procs = [subprocess.Popen(["true"]) for _ in range(3)]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(psutil.Process(p.pid).status() == psutil.STATUS_ZOMBIE for p in procs):
        time.sleep(0.02)
    yield procs
    for p in procs:
        p.wait()  # reap


async def test_zombies_are_found_with_their_parent(zombies):
    out = await run_action("proc.zombies")
    assert out.ok, out.message
    mine = {z["pid"]: z for z in out.value["zombies"] if z["ppid"] == os.getpid()}
    assert set(mine) >= {p.pid for p in zombies}
    z = mine[zombies[0].pid]
    assert z["name"] == "true" and z["age_seconds"] >= 0
    assert "pytest" in z["parent_cmdline"] or "python" in z["parent_cmdline"]
    parents = {c["ppid"]: c["zombies"] for c in out.value["by_parent"]}
    assert parents[os.getpid()] >= 3
    assert out.value["pid_max"] and out.value["pid_max"] > 0


async def test_reaped_zombies_disappear(zombies):
    for p in zombies:
        p.wait()
    out = await run_action("proc.zombies")
    assert not {p.pid for p in zombies} & {z["pid"] for z in out.value["zombies"]}


def test_parse_stat_with_odd_comm():
    text = "1234 (my (odd) name) Z 99 1234 1234 0 -1 4194564 0 0 0 0 0 0 0 0 20 0 1 0 5555 0 0"
    assert parse_stat(text) == ("my (odd) name", "Z", 99, 5555)


async def test_zombies_bad_params():
    assert (await run_action("proc.zombies", {"ppid": 1})).code == "A002"
