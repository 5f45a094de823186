"""proc.kill: a polite child exits on TERM, a stubborn one is killed, a tree goes down together."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from agent_core.testing import run_action


def _start(code: str) -> subprocess.Popen:
    """A Python child that prints 'ready' once its signal handlers are in place."""
    proc = subprocess.Popen([sys.executable, "-c", code + "\nprint('ready', flush=True)\nimport time\ntime.sleep(60)\n"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


@pytest.fixture
def cleanup():
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


async def test_polite_process_exits_on_term(cleanup):
    proc = _start("")
    cleanup.append(proc)
    out = await run_action("proc.kill", {"pid": proc.pid, "grace": 5})
    assert out.ok, out.message
    (o,) = out.value["processes"]
    assert (o["pid"], o["result"], o["signals"]) == (proc.pid, "exited", ["SIGTERM"])
    assert out.value["all_gone"] is True
    assert proc.wait(timeout=5) == -15


async def test_stubborn_process_is_killed(cleanup):
    proc = _start("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)")
    cleanup.append(proc)
    out = await run_action("proc.kill", {"pid": proc.pid, "grace": 0.3})
    (o,) = out.value["processes"]
    assert o["result"] == "killed" and o["signals"] == ["SIGTERM", "SIGKILL"]
    assert proc.wait(timeout=5) == -9


async def test_without_escalation_it_survives(cleanup):
    proc = _start("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)")
    cleanup.append(proc)
    out = await run_action("proc.kill", {"pid": proc.pid, "grace": 0.2, "escalate": False})
    assert out.ok
    assert out.value["processes"][0]["result"] == "still running" and out.value["all_gone"] is False
    assert proc.poll() is None


def _family() -> tuple[subprocess.Popen, list[int]]:
    proc = subprocess.Popen(["sh", "-c", "sleep 46 & sleep 47 & wait"])
    deadline = time.monotonic() + 5
    while len(psutil.Process(proc.pid).children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    return proc, [c.pid for c in psutil.Process(proc.pid).children()]


async def test_tree_takes_the_descendants(cleanup):
    proc, kids = _family()
    cleanup.append(proc)
    out = await run_action("proc.kill", {"pid": proc.pid, "tree": True, "grace": 5})
    assert out.ok
    assert {o["pid"] for o in out.value["processes"]} == {proc.pid, *kids}
    assert out.value["all_gone"] is True
    proc.wait(timeout=5)
    for pid in kids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize(
    ("params", "code"),
    [({"pid": 1}, "A002"), ({"pid": 2**22 + 13}, "A017"), ({"pid": 2**22 + 13, "grace": -1}, "A002"), ({"pid": 2**22 + 13, "signal": "XYZ"}, "A002"), ({"pids": [1]}, "A002")],
)
async def test_kill_guards(params, code):
    assert (await run_action("proc.kill", params)).code == code
