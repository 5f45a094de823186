"""Chaos on two proxies with 1,000 simulated agents: balance after a proxy
restart, and a proxy lost for good in the middle of a job."""

from __future__ import annotations

import time

import pytest

from ._cluster import Cluster, audit, report
from .conftest import REAL_AGENTS
from .test_one_proxy import JOB_WAIT, _only_ok, _running

pytestmark = pytest.mark.chaos

SIMS = 1000
TOTAL = SIMS + REAL_AGENTS
RATIO = 1.3
LOST_PROXY_TIMEOUT = 45  # the job's timeout when one proxy of two is lost (see test_d)


def _connections(c: Cluster) -> dict[str, int]:
    return {p["id"]: p["connections"] for p in c.client.proxies() if p["online"] and p["linked"]}


def test_balance_after_proxy_restart(two_proxies: Cluster) -> None:
    c = two_proxies
    c.wait_all_online(TOTAL)
    c.kill("proxy-1")
    t0 = time.monotonic()
    c.start("proxy-1")
    c.wait_proxy_linked("proxy-1")
    seen: list[dict[str, int]] = []

    def balanced() -> bool:
        conns = _connections(c)
        seen.append(conns)
        if len(conns) != 2 or sum(conns.values()) < TOTAL:
            return False
        hi, lo = max(conns.values()), min(conns.values())
        return lo > 0 and hi / lo <= RATIO

    try:
        # ~11 s on a quiet machine (docs/reliability.md); the bound is for a balancer that never
        # balances, not a timing: beside the rest of the suite (load 5 on 2 cores) 30 s ran out
        # with hundreds of identities still in their reconnect backoff.
        c.wait_until(balanced, 90, f"connections within {RATIO}:1")
    finally:
        report("balance: 1,000 simulated agents, restart one of two proxies", {
            "connections": seen[-1] if seen else {}, "problems": []}, seconds=round(time.monotonic() - t0, 1))


def test_d_lose_one_of_two_proxies(two_proxies: Cluster) -> None:
    c = two_proxies
    c.wait_all_online(TOTAL)
    c.wait_proxy_linked("proxy-1")
    c.wait_proxy_linked("proxy-2")
    cmd, runs = c.chaos_command()
    t0 = time.monotonic()
    # Half the fleet reconnects to the surviving proxy at once. Beside the rest of the suite
    # (three workers on two cores) a 20 s deadline twice left dozens of those agents still
    # in their reconnect backoff when it ran out (E001: a timing, not a lost or doubled
    # task); the deadline is the contract under test only as "every task ends".
    job_id = c.submit(cmd, timeout=LOST_PROXY_TIMEOUT)
    c.wait_until(lambda: sum(_running(c, job_id).get(s, 0) for s in ("received", "running")) > 0, 20, "first acks")
    c.kill("proxy-2")  # for good
    job = c.wait_job(job_id, LOST_PROXY_TIMEOUT + JOB_WAIT - 20)
    took = time.monotonic() - t0
    fig = audit(c, job, runs, TOTAL)
    report("d: kill -9 one of two proxies for good", fig, seconds=round(took, 1))
    assert not fig["problems"], fig["problems"]
    _only_ok(fig, job["results"])
