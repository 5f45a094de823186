"""proc.renice on a multi-threaded child: every thread gets the new nice; I/O class changes."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

from agent_core.testing import run_action


@pytest.fixture
def threaded():
    code = "import threading, time\nfor _ in range(3): threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\nprint('ready', flush=True)\ntime.sleep(60)\n"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait()


def _thread_nices(pid: int) -> set[int]:
    return {os.getpriority(os.PRIO_PROCESS, int(t)) for t in os.listdir(f"/proc/{pid}/task")}


async def test_renice_all_threads(threaded):
    out = await run_action("proc.renice", {"pid": threaded.pid, "nice": 12, "expect_name": psutil.Process(threaded.pid).name()})
    assert out.ok, out.message
    assert len(out.value["threads"]) == 4
    assert {t["new"] for t in out.value["threads"]} == {12}
    assert _thread_nices(threaded.pid) == {12}


async def test_ionice_idle(threaded):
    out = await run_action("proc.renice", {"pid": threaded.pid, "ionice_class": "idle"})
    assert out.ok, out.message
    assert out.value["ionice_new"].startswith("idle")
    assert psutil.Process(threaded.pid).ionice().ioclass == psutil.IOPRIO_CLASS_IDLE


@pytest.mark.parametrize(
    ("params", "code"),
    [({"pid": 1, "nice": 5}, "A002"), ({"pid": os.getpid(), "nice": 5}, "A002"), ({"pid": 2**22 + 37, "nice": 5}, "A017"),
     ({"pid": 2**22 + 37}, "A002"), ({"pid": 2**22 + 37, "nice": 20}, "A002"), ({"pid": 2**22 + 37, "ionice_class": "realtime"}, "A002"),
     ({"pid": 2**22 + 37, "ionice_class": "best-effort", "ionice_level": 8}, "A002")],
)  # fmt: skip
async def test_renice_guards(params, code):
    assert (await run_action("proc.renice", params)).code == code


async def test_renice_refuses_reused_pid(threaded):
    out = await run_action("proc.renice", {"pid": threaded.pid, "nice": 3, "expect_name": "postgres"})
    assert out.code == "A017" and _thread_nices(threaded.pid) == {0}
