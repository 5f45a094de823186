"""Nothing a task starts outlives its agent, or its timeout.

A real Starling (center, proxy, one agent as processes). A task starts a
harmless tree: a shell, a background ``sleep``, a double-forked ``setsid``
``sleep`` in its own session, and a foreground ``sleep``. Then the agent is
killed with SIGKILL: every process of the tree must be gone within seconds (by
PID), and once the agent restarts, the task's stored result says its tree was
killed with the agent (A020). A second task with a short timeout must leave
nothing running once it reports A005. And the API refuses insane times (C001)
before any host sees them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from center import Client
from center.cli._client import ApiError

from .conftest import Fleet

pytestmark = pytest.mark.integration

AGENTS = 1

#: A harmless tree: every pid it starts is written into DIR.
TREE = (
    "echo $$ > {d}/sh.pid; "
    "sleep 300 & echo $! > {d}/background.pid; "
    "setsid sh -c 'sleep 300 & echo $! > {d}/escaped.pid'; "
    "sleep 300"
)


def _running(pid: int, created: float) -> bool:
    """The process still exists (same pid *and* start time) and is not a zombie."""
    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - created) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _tree(d: Path, timeout: float = 20) -> dict[int, float]:
    """Wait until the task wrote its pids, then return the whole tree (guardian
    included) as pid -> start time."""
    end = time.monotonic() + timeout
    names = ("sh.pid", "background.pid", "escaped.pid")
    while not all((d / n).exists() and (d / n).read_text().strip() for n in names):
        assert time.monotonic() < end, f"the task did not start: {list(d.iterdir())}"
        time.sleep(0.1)
    time.sleep(0.3)  # let the foreground sleep start
    shell = psutil.Process(int((d / "sh.pid").read_text()))
    guardian = psutil.Process(shell.ppid())
    procs = [guardian, *guardian.children(recursive=True)]
    tree = {p.pid: p.create_time() for p in procs}
    for name in names:
        assert int((d / name).read_text()) in tree, f"{name} is not in the guardian's tree"
    assert len(tree) >= 5, tree  # guardian, sh, background sleep, escaped sleep, foreground sleep
    return tree


def _wait_gone(tree: dict[int, float], seconds: float) -> list[int]:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        alive = [pid for pid, created in tree.items() if _running(pid, created)]
        if not alive:
            return []
        time.sleep(0.1)
    return [pid for pid, created in tree.items() if _running(pid, created)]


#: The agents here must run their task even on a box loaded by other tests: the
#: throttle would defer it (A013), which is not what these tests are about.
AGENT_ENV = {**os.environ, "STARLING_AGENT_MAX_LOAD_PER_CPU": "1000"}


@pytest.fixture(scope="module")
def client(fleet: Fleet):
    prof = fleet.profile
    c = Client(prof["api"], prof["key_id"], prof["secret"], prof["ca_file"])
    # Restart the fleet's agent with the throttle's load limit lifted.
    agent = prof["agents"][0]
    os.kill(agent["pid"], signal.SIGTERM)
    _wait_exit(agent["pid"])
    own = subprocess.Popen(agent["argv"], env=AGENT_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _replace_pid(fleet, agent["pid"], own.pid)
    _wait_online(c, agent["hostname"])
    yield c
    c.close()


def _wait_exit(pid: int) -> None:
    end = time.monotonic() + 15
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < end, f"agent {pid} did not stop"
        time.sleep(0.1)


def _wait_online(client: Client, hostname: str) -> None:
    end = time.monotonic() + 60
    while not any(h["hostname"] == hostname and h["online"] for h in client.hosts()):
        assert time.monotonic() < end, f"{hostname} not online"
        time.sleep(0.2)


def test_kill_9_of_the_agent_kills_the_whole_tree(fleet: Fleet, client: Client, tmp_path: Path) -> None:
    agent = fleet.profile["agents"][0]
    sub = client.submit("exec.run", {"cmd": TREE.format(d=tmp_path)}, hosts=[agent["hostname"]], timeout=600)
    tree = _tree(tmp_path)
    restarted = None
    try:
        os.kill(agent["pid"], signal.SIGKILL)
        alive = _wait_gone(tree, 5)
        assert not alive, f"processes outlived their agent: {[psutil.Process(p).cmdline() for p in alive]}"

        # After a restart, the task's result says what became of it.
        restarted = subprocess.Popen(agent["argv"], env=AGENT_ENV, stdout=open(tmp_path / "agent.out", "wb"), stderr=subprocess.STDOUT)
        done = client.wait(sub["job_id"], 60)
        assert done["complete"], done
        (result,) = client.job(sub["job_id"])["results"]
        assert (result["state"], result["code"]) == ("failed", "A020"), result
        assert "killed with the agent" in result["message"], result
    finally:
        for pid, created in tree.items():
            if _running(pid, created):
                os.kill(pid, signal.SIGKILL)
        if restarted is not None:
            # The restarted agent keeps serving the next test; `starling down` stops it.
            _replace_pid(fleet, agent["pid"], restarted.pid)


def _replace_pid(fleet: Fleet, old: int, new: int) -> None:
    path = fleet.home / "up.json"
    prof = json.loads(path.read_text())
    prof["pids"] = [new if p == old else p for p in prof["pids"]]
    for entry in prof["agents"]:
        if entry["pid"] == old:
            entry["pid"] = new
    path.write_text(json.dumps(prof, indent=2))


def test_nothing_runs_past_the_timeout(fleet: Fleet, client: Client, tmp_path: Path) -> None:
    agent = fleet.profile["agents"][0]
    _wait_online(client, agent["hostname"])  # the agent the previous test restarted
    sub = client.submit("exec.run", {"cmd": TREE.format(d=tmp_path)}, hosts=[agent["hostname"]], timeout=3)
    tree = _tree(tmp_path)
    done = client.wait(sub["job_id"], 30)
    assert done["complete"], done
    (result,) = client.job(sub["job_id"])["results"]
    assert (result["state"], result["code"]) == ("timed_out", "A005"), result
    # The result is reported only after the tree is dead: nothing is left now.
    alive = _wait_gone(tree, 0.5)
    assert not alive, f"processes ran past their timeout: {alive}"


@pytest.mark.parametrize(("field", "value"), [("deadline", 1e308), ("deadline", -1), ("timeout", 1e-300), ("timeout", 1e308)])
def test_the_api_refuses_insane_times(fleet: Fleet, client: Client, field: str, value: float) -> None:
    agent = fleet.profile["agents"][0]
    with pytest.raises(ApiError) as exc:
        client.submit("exec.run", {"cmd": "true"}, hosts=[agent["hostname"]], **{field: value})
    assert exc.value.code.value == "C001" and field in str(exc.value), exc.value
