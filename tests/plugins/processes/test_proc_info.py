"""proc.info of a child with a known working directory, nice value and affinity."""

from __future__ import annotations

import os

import psutil
import pytest

from agent_core.testing import run_action, spawned
from plugins.processes.info import decode_caps


@pytest.fixture
def child(tmp_path):
    proc = spawned(["sleep", "50"], cwd=tmp_path, preexec_fn=lambda: os.nice(7))
    yield proc, tmp_path
    proc.kill()
    proc.wait()


def _oom_adj(pid: int) -> int:
    with open(f"/proc/{pid}/oom_score_adj") as fh:
        return int(fh.read())


async def test_info_of_a_child(child):
    proc, cwd = child
    out = await run_action("proc.info", {"pid": proc.pid})
    assert out.ok, out.message
    v = out.value
    ref = psutil.Process(proc.pid)
    assert (v["pid"], v["ppid"], v["name"]) == (proc.pid, os.getpid(), "sleep")
    assert v["cmdline"] == ["sleep", "50"] and v["cwd"] == str(cwd) and v["root"] == "/"
    assert v["exe"] == ref.exe()
    assert v["nice"] == min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + 7)
    assert v["affinity"] == ref.cpu_affinity()
    assert v["uids"][0] == os.getuid() and v["threads"] == 1
    assert v["namespaces"]["mnt"] == os.readlink(f"/proc/{os.getpid()}/ns/mnt")  # same mount namespace as us
    assert v["oom_score_adj"] == _oom_adj(proc.pid)
    assert v["fds"] == len(os.listdir(f"/proc/{proc.pid}/fd"))
    if os.geteuid() == 0:
        assert "sys_admin" in v["capabilities"]


def test_decode_caps():
    assert decode_caps("0000000000000001") == ["chown"]
    assert decode_caps("0000000000003000") == ["net_admin", "net_raw"]
    assert decode_caps("0") == []


@pytest.mark.parametrize(("params", "code"), [({"pid": 2**22 + 29}, "A017"), ({"pid": -1}, "A002"), ({}, "A002"), ({"pid": 1, "x": 1}, "A002")])
async def test_info_errors(params, code):
    assert (await run_action("proc.info", params)).code == code
