"""A proxy as two worker processes on one port (``workers = 2``), for real.

Center, a proxy supervisor with two workers, a simulated fleet and real
agents, each its own process on loopback: the agents spread over both workers
(SO_REUSEPORT), a job reaches all of them, and a worker killed with SIGKILL in
the middle of a job is restarted by its supervisor while its agents move to
the other worker (or the new one) — and every task ends once, nothing lost,
nothing run twice (the chaos tests' delivery audit).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator

import pytest

from tests.chaos._cluster import Cluster, audit

SIMS = 300
REAL = 2
TOTAL = SIMS + REAL


def _workers(c: Cluster) -> dict[str, dict]:
    return {p["id"]: p for p in c.client.proxies() if p["id"].startswith("proxy-1.w")}


def _status(c: Cluster) -> dict:
    return json.loads((c.root / "workers.json").read_text())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("workers"), proxy_workers=2)
    try:
        c.start_center()
        c.env["proxy-1"] = {"STARLING_PROXY_WORKERS_STATUS_FILE": str(c.root / "workers.json")}
        c.start_proxy("proxy-1")  # waits for proxy-1.w0 and proxy-1.w1 to link
        for i in range(1, REAL + 1):
            c.start_agent(i)
        c.start_simfleet(SIMS)
        c.wait_all_online(TOTAL, timeout=180)
        yield c
    finally:
        c.stop_all()


def test_workers_share_one_port_and_link_separately(cluster: Cluster) -> None:
    c = cluster
    status = _status(c)
    assert set(status["pids"]) == {"w0", "w1"}
    workers = _workers(c)
    assert set(workers) == {"proxy-1.w0", "proxy-1.w1"}
    # One advertised URL for both: they share the port.
    assert workers["proxy-1.w0"]["urls"] == workers["proxy-1.w1"]["urls"] == status["listen"]
    # The kernel spread the agents over both workers.
    c.wait_until(lambda: sum(p["connections"] for p in _workers(c).values()) >= TOTAL, 30, "load reports")
    held = {pid: p["connections"] for pid, p in _workers(c).items()}
    assert all(n >= TOTAL // 10 for n in held.values()), held


def test_job_reaches_all_agents_on_both_workers(cluster: Cluster) -> None:
    c = cluster
    job = c.wait_job(c.submit("echo hi"), 60)
    states = [r["state"] for r in job["results"]]
    assert len(states) == TOTAL and set(states) == {"succeeded"}, {s: states.count(s) for s in set(states)}


def test_worker_killed_mid_job_loses_nothing(cluster: Cluster) -> None:
    c = cluster
    victim = _status(c)["pids"]["w1"]
    restarts = _status(c)["restarts"]["w1"]
    cmd, runs = c.chaos_command()
    job_id = c.submit(cmd)

    def running() -> bool:
        counts = c.client.job(job_id, results=False)["counts"]
        return sum(counts.get(s, 0) for s in ("received", "running")) > TOTAL // 4

    c.wait_until(running, 30, "tasks running")
    os.kill(victim, signal.SIGKILL)  # a worker this test's cluster started (the supervisor's child)
    c.wait_until(lambda: _status(c)["restarts"]["w1"] > restarts and "w1" in _status(c)["pids"], 30, "w1 restarted")
    assert _status(c)["pids"]["w1"] != victim
    job = c.wait_job(job_id, 90)
    fig = audit(c, job, runs, TOTAL)
    assert not fig["problems"], fig
    assert fig["executed_twice"] == 0
    assert fig["states"] == {"succeeded": TOTAL}, fig
    # Everyone is back online (on either worker) after the restart.
    c.wait_all_online(TOTAL, timeout=90)
    c.wait_until(lambda: all(p["linked"] for p in _workers(c).values()) and len(_workers(c)) == 2, 30, "both linked")


def test_supervisor_stops_its_workers(cluster: Cluster) -> None:
    c = cluster
    pids = list(_status(c)["pids"].values())
    proc = c.procs["proxy-1"]
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_workers_die_with_a_killed_supervisor(cluster: Cluster) -> None:
    """SIGKILL leaves the supervisor no chance to stop its workers: the kernel
    does it (PR_SET_PDEATHSIG), so no worker is left holding agents."""
    c = cluster
    (c.root / "workers.json").unlink(missing_ok=True)
    c._start("proxy-1")
    c.wait_until(lambda: len(_status(c)["pids"]) == 2, 30, "workers started")
    pids = list(_status(c)["pids"].values())
    os.kill(c.procs["proxy-1"].pid, signal.SIGKILL)  # the supervisor this test started
    c.procs["proxy-1"].wait(10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)
