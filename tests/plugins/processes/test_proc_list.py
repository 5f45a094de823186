"""proc.list sees a child this test starts, with the right parent, user and command line."""

from __future__ import annotations

import os
import pwd

import psutil
import pytest

from agent_core.testing import run_action, spawned


@pytest.fixture
def child():
    proc = spawned(["sleep", "37.5"])
    yield proc
    proc.kill()
    proc.wait()


async def test_list_contains_child(child):
    out = await run_action("proc.list", {"name": "sleep", "limit": 100000})
    assert out.ok, out.message
    mine = [p for p in out.value["processes"] if p["pid"] == child.pid]
    assert len(mine) == 1
    p = mine[0]
    assert p["ppid"] == os.getpid()
    assert p["cmdline"] == "sleep 37.5"
    assert p["user"] == pwd.getpwuid(os.geteuid()).pw_name
    assert p["state"] in ("sleeping", "running")
    assert p["started"] == pytest.approx(psutil.Process(child.pid).create_time(), abs=0.02)
    assert all(x["name"] == "sleep" for x in out.value["processes"])
    assert out.value["total"] >= out.value["matched"] >= 1


async def test_sort_and_limit():
    out = await run_action("proc.list", {"sort": "rss", "limit": 5})
    assert out.ok
    rss = [p["rss"] for p in out.value["processes"]]
    assert len(rss) == 5 and rss == sorted(rss, reverse=True)
    assert abs(out.value["total"] - len(psutil.pids())) < 50


async def test_state_filter(child):
    out = await run_action("proc.list", {"state": "sleeping", "limit": 100000})
    assert all(p["state"] == "sleeping" for p in out.value["processes"])


@pytest.mark.parametrize("params", [{"limit": 0}, {"sort": "size"}, {"state": "napping"}, {"pid": 1}])
async def test_list_bad_params(params):
    assert (await run_action("proc.list", params)).code == "A002"
