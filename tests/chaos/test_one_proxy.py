"""Chaos on one proxy: kill -9 a real agent, the proxy, the center mid-job.

Each scenario runs a job (``sleep 3; echo ok``) on 500 simulated agents plus 3
real agents, kills one role with SIGKILL while tasks run, restarts it, and then
checks the delivery contract (see ``_cluster.audit``): every task final, none
lost, none executed twice, every stored result the one its agent recorded.
"""

from __future__ import annotations

import time

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


def test_a_kill_real_agent_mid_task(one_proxy: Cluster) -> None:
    c = one_proxy
    c.wait_all_online(TOTAL)
    cmd, runs = c.chaos_command()
    t0 = time.monotonic()
    job_id = c.submit(cmd)

    def victim_running() -> bool:
        rows = c.client.request("GET", f"/v1/jobs/{job_id}", params={"state": "running"})["results"]
        return any(r["hostname"] == "chaos-1" for r in rows)

    c.wait_until(victim_running, 20, "chaos-1 running its task")
    c.kill("agent-1")
    time.sleep(0.5)
    c.start("agent-1")
    job = c.wait_job(job_id, JOB_WAIT)
    took = time.monotonic() - t0
    fig = audit(c, job, runs, TOTAL)
    report("a: kill -9 + restart a real agent mid-task", fig, seconds=round(took, 1))
    assert not fig["problems"], fig["problems"]
    # The killed agent's task was running: interrupted and never re-run (A007),
    # unless it had already finished.
    _only_ok(fig, job["results"], {"chaos-1": {("failed", "A007")}})
    victim = next(r for r in job["results"] if r["hostname"] == "chaos-1")
    assert fig["real_markers"] == REAL_AGENTS, "each real agent executed its task exactly once"
    assert victim["state"] in ("failed", "succeeded")


def test_b_kill_proxy_mid_job(one_proxy: Cluster) -> None:
    c = one_proxy
    c.wait_all_online(TOTAL)
    cmd, runs = c.chaos_command()
    t0 = time.monotonic()
    job_id = c.submit(cmd)
    # Kill as soon as the first acks come back: some tasks run, others may not
    # have reached their agent yet and must be re-dispatched.
    c.wait_until(lambda: sum(_running(c, job_id).get(s, 0) for s in ("received", "running")) > 0, 20, "first acks")
    c.kill("proxy-1")
    time.sleep(1.0)
    c.start("proxy-1")
    job = c.wait_job(job_id, JOB_WAIT)
    took = time.monotonic() - t0
    fig = audit(c, job, runs, TOTAL)
    report("b: kill -9 + restart the proxy mid-job", fig, seconds=round(took, 1))
    assert not fig["problems"], fig["problems"]
    _only_ok(fig, job["results"])


def test_c_kill_center_mid_job(one_proxy: Cluster) -> None:
    c = one_proxy
    c.wait_all_online(TOTAL)
    cmd, runs = c.chaos_command()
    t0 = time.monotonic()
    job_id = c.submit(cmd)
    c.wait_until(lambda: sum(_running(c, job_id).get(s, 0) for s in ("received", "running")) > 0, 20, "first acks")
    c.kill("center")
    time.sleep(1.0)
    c.start("center")
    c.wait_until(lambda: c.client.request("GET", "/v1/health")["ok"], 30, "center back")
    job = c.wait_job(job_id, JOB_WAIT)
    took = time.monotonic() - t0
    fig = audit(c, job, runs, TOTAL)
    report("c: kill -9 + restart the center mid-job", fig, seconds=round(took, 1))
    assert not fig["problems"], fig["problems"]
    _only_ok(fig, job["results"])


def test_e_kill_simfleet_mid_task(one_proxy: Cluster) -> None:
    """The simulated fleet's own journal keeps the promise across kill -9:
    tasks that were running are A007 (never re-run), the rest succeed."""
    c = one_proxy
    c.wait_all_online(TOTAL)
    cmd, runs = c.chaos_command()
    t0 = time.monotonic()
    job_id = c.submit(cmd)
    c.wait_until(lambda: _running(c, job_id).get("running", 0) >= SIMS // 2, 20, "half the fleet running")
    c.kill("simfleet")
    time.sleep(0.5)
    c.start("simfleet")
    job = c.wait_job(job_id, JOB_WAIT)
    took = time.monotonic() - t0
    fig = audit(c, job, runs, TOTAL)
    report("e: kill -9 + restart the simfleet (500 identities) mid-task", fig, seconds=round(took, 1))
    assert not fig["problems"], fig["problems"]
    _only_ok(fig, job["results"], {f"sim-{i}": {("failed", "A007")} for i in range(SIMS)})
    assert fig["states"].get("failed/A007", 0) >= SIMS // 2, fig
