"""proc.tree of a shell with two children; ancestors lead back to this test process."""

from __future__ import annotations

import os
import subprocess
import time

import psutil
import pytest

from agent_core.testing import run_action


@pytest.fixture
def family():
    proc = subprocess.Popen(["sh", "-c", "sleep 41 & sleep 42 & wait"])
    deadline = time.monotonic() + 5
    while len(psutil.Process(proc.pid).children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    yield proc
    for child in psutil.Process(proc.pid).children(recursive=True):
        child.kill()
    proc.kill()
    proc.wait()


async def test_tree_of_a_shell(family):
    out = await run_action("proc.tree", {"pid": family.pid})
    assert out.ok, out.message
    root = out.value["root"]
    assert root["pid"] == family.pid and root["name"] == "sh"
    kids = sorted(c["cmdline"] for c in root["children"])
    assert kids == ["sleep 41", "sleep 42"]
    assert out.value["nodes"] == 3 and out.value["truncated"] is False
    chain = [a["pid"] for a in out.value["ancestors"]]
    assert chain[0] == os.getpid()
    assert chain[-1] == 1  # every chain ends at init


async def test_tree_limits(family):
    shallow = await run_action("proc.tree", {"pid": family.pid, "depth": 1, "max_nodes": 2})
    assert shallow.ok and shallow.value["truncated"] is True and shallow.value["nodes"] == 2


@pytest.mark.parametrize(("params", "code"), [({"pid": 0}, "A002"), ({"pid": 2**22 + 7}, "A017"), ({"depth": 0}, "A002"), ({"root": 1}, "A002")])
async def test_tree_errors(params, code):
    assert (await run_action("proc.tree", params)).code == code
