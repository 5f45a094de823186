"""proc.signals on children this test starts; the guards refuse init, the agent and reused pids."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from agent_core.testing import run_action, spawned


@pytest.fixture
def child():
    proc = spawned(["sleep", "43"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


async def test_term_kills_the_child(child):
    out = await run_action("proc.signals", {"pid": child.pid, "signal": "TERM", "expect_name": "sleep"})
    assert out.ok, out.message
    assert out.value == {"pid": child.pid, "name": "sleep", "signal": "SIGTERM", "number": 15, "pgid": None}
    assert child.wait(timeout=5) == -signal.SIGTERM


def _wait_status(pid: int, status: str) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if psutil.Process(pid).status() == status:
            return True
        time.sleep(0.01)
    return False


async def test_stop_and_continue(child):
    out = await run_action("proc.signals", {"pid": child.pid, "signal": "SIGSTOP"})
    assert out.ok
    assert _wait_status(child.pid, psutil.STATUS_STOPPED)
    out = await run_action("proc.signals", {"pid": child.pid, "signal": 18})  # SIGCONT by number
    assert out.ok and out.value["signal"] == "SIGCONT"


def _session_leader() -> subprocess.Popen:
    return subprocess.Popen(["sh", "-c", "sleep 44 & sleep 45 & wait"], start_new_session=True)


async def test_group_signal_reaches_grandchildren():
    leader = _session_leader()
    try:
        out = await run_action("proc.signals", {"pid": leader.pid, "signal": "KILL", "group": True})
        assert out.ok and out.value["pgid"] == leader.pid
        assert leader.wait(timeout=5) == -signal.SIGKILL
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait()


async def test_group_of_the_agent_is_refused(child):
    # The child shares this process's group: signalling the group would hit us.
    out = await run_action("proc.signals", {"pid": child.pid, "group": True})
    assert out.code == "A002" and child.poll() is None


async def test_reused_pid_is_refused(child):
    out = await run_action("proc.signals", {"pid": child.pid, "expect_name": "nginx"})
    assert out.code == "A017" and "sleep" in out.message
    assert child.poll() is None


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"pid": 1}, "A002"),
        ({"pid": os.getpid()}, "A002"),
        ({"pid": os.getppid()}, "A002"),
        ({"pid": 0}, "A002"),
        ({"pid": 2**22 + 11}, "A017"),
        ({"pid": 2**22 + 11, "signal": "NOPE"}, "A002"),
        ({"pid": 2**22 + 11, "sig": "TERM"}, "A002"),
    ],
)
async def test_signal_guards(params, code):
    assert (await run_action("proc.signals", params)).code == code
    assert sys.executable  # this process survived
