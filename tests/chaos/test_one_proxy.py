"""Chaos on one proxy: kill -9 a real agent, the proxy, the center mid-job.

Each scenario runs a job (``sleep 3; echo ok``) on 500 simulated agents plus 3
real agents, kills one role with SIGKILL while tasks run, restarts it, and then
checks the delivery contract (see ``_cluster.audit``): every task final, none
lost, none executed twice, every stored result the one its agent recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from ._cluster import Cluster, audit, report
from .conftest import REAL_AGENTS

pytestmark = pytest.mark.chaos

SIMS = 500
TOTAL = SIMS + REAL_AGENTS
JOB_WAIT = 75  # the job's deadline is timeout (20 s) + dispatch grace (30 s) after submission


def _running(cluster: Cluster, job_id: str) -> dict[str, int]:
    return cluster.client.job(job_id, results=False)["counts"]


def _only_ok(fig: dict, rows: list[dict], allowed: dict[str, set[tuple[str, str]]] | None = None) -> None:
    allowed = allowed or {}
    bad = []
    for r in rows:
        ok = {("succeeded", "")} | allowed.get(r["hostname"], set())
        if (r["state"], r["code"]) not in ok or (r["state"] == "succeeded" and r["stdout"] != "ok\n"):
            bad.append((r["hostname"], r["state"], r["code"], r["message"][:60]))
    assert not bad, f"{len(bad)} tasks in an unexpected final state: {bad[:10]}; figures {fig}"


def _restart_mid_job(
    c: Cluster,
    role: str,
    ready: Callable[[str], bool],
    ready_what: str,
    pause: float,
    back: Callable[[], bool] | None = None,
) -> tuple[dict, dict, float]:
    """Submit the chaos job, kill -9 ``role`` once ``ready(job_id)``, restart it
    after ``pause`` seconds (and wait for ``back``, if given), wait for the job.

    :returns: the job, its audit figures and the seconds it all took.
    """
    c.wait_all_online(TOTAL)
    cmd, runs = c.chaos_command()
    t0 = time.monotonic()
    job_id = c.submit(cmd)
    c.wait_until(lambda: ready(job_id), 20, ready_what)
    c.kill(role)
    time.sleep(pause)
    c.start(role)
    if back is not None:
        c.wait_until(back, 30, f"{role} back")
    job = c.wait_job(job_id, JOB_WAIT)
    took = time.monotonic() - t0
    return job, audit(c, job, runs, TOTAL), took


def _first_acks(c: Cluster) -> Callable[[str], bool]:
    return lambda job_id: sum(_running(c, job_id).get(s, 0) for s in ("received", "running")) > 0


def test_a_kill_real_agent_mid_task(one_proxy: Cluster) -> None:
    c = one_proxy

    def victim_running(job_id: str) -> bool:
        rows = c.client.request("GET", f"/v1/jobs/{job_id}", params={"state": "running"})["results"]
        return any(r["hostname"] == "chaos-1" for r in rows)

    job, fig, took = _restart_mid_job(c, "agent-1", victim_running, "chaos-1 running its task", 0.5)
    report("a: kill -9 + restart a real agent mid-task", fig, seconds=round(took, 1))
    assert not fig["problems"], fig["problems"]
    # The killed agent's task was running: its process tree died with the agent
    # and it is never re-run (A020), unless it had already finished.
    _only_ok(fig, job["results"], {"chaos-1": {("failed", "A020")}})
    victim = next(r for r in job["results"] if r["hostname"] == "chaos-1")
    assert victim["state"] in ("failed", "succeeded")
    # Each real agent executed its task once; the victim may have died before its shell
    # wrote the marker (the center hears "running" when the agent starts the task).
    others = {f"chaos-{i}": 1 for i in range(2, REAL_AGENTS + 1)}
    assert {k: v for k, v in fig["markers"].items() if k != "chaos-1"} == others, fig["markers"]
    victim_runs = fig["markers"].get("chaos-1", 0)
    assert (victim_runs == 1) if victim["state"] == "succeeded" else (victim_runs <= 1), (victim["state"], victim_runs)


def test_b_kill_proxy_mid_job(one_proxy: Cluster) -> None:
    c = one_proxy
    # Kill as soon as the first acks come back: some tasks run, others may not
    # have reached their agent yet and must be re-dispatched.
    job, fig, took = _restart_mid_job(c, "proxy-1", _first_acks(c), "first acks", 1.0)
    report("b: kill -9 + restart the proxy mid-job", fig, seconds=round(took, 1))
    assert not fig["problems"], fig["problems"]
    _only_ok(fig, job["results"])


def test_c_kill_center_mid_job(one_proxy: Cluster) -> None:
    c = one_proxy
    job, fig, took = _restart_mid_job(
        c, "center", _first_acks(c), "first acks", 1.0, back=lambda: c.client.request("GET", "/v1/health")["ok"]
    )
    report("c: kill -9 + restart the center mid-job", fig, seconds=round(took, 1))
    assert not fig["problems"], fig["problems"]
    _only_ok(fig, job["results"])


def test_e_kill_simfleet_mid_task(one_proxy: Cluster) -> None:
    """The simulated fleet's own journal keeps the promise across kill -9:
    tasks that were running are A007 (never re-run), the rest succeed."""
    c = one_proxy
    job, fig, took = _restart_mid_job(
        c,
        "simfleet",
        lambda job_id: _running(c, job_id).get("running", 0) >= SIMS // 2,
        "half the fleet running",
        0.5,
    )
    report("e: kill -9 + restart the simfleet (500 identities) mid-task", fig, seconds=round(took, 1))
    assert not fig["problems"], fig["problems"]
    _only_ok(fig, job["results"], {f"sim-{i}": {("failed", "A007")} for i in range(SIMS)})
    assert fig["states"].get("failed/A007", 0) >= SIMS // 2, fig
