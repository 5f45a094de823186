"""Task lifecycle on real processes: cancel kills the tree, a hung host is
reported as an environment failure, transitions are timestamped."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from center import Client

pytestmark = pytest.mark.integration

AGENTS = 3


@pytest.fixture(scope="module")
def client(fleet):
    prof = fleet.profile
    c = Client(prof["api"], prof["key_id"], prof["secret"], prof["ca_file"])
    yield c
    c.close()


def _wait(client, job_id, pred, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.job(job_id)
        if pred(job):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached the expected state: {job['counts']}")


def test_cancel_kills_the_process_tree(client):
    marker = f"{time.time():.6f}"[-9:]
    sub = client.submit("exec.run", {"cmd": f"sleep 600{marker} & sleep 600{marker}; echo never"}, all=True, timeout=300)
    _wait(client, sub["job_id"], lambda j: j["counts"].get("running", 0) == AGENTS)
    assert subprocess.run(["pgrep", "-f", f"sleep 600{marker}"], capture_output=True).returncode == 0
    client.cancel(sub["job_id"])
    job = _wait(client, sub["job_id"], lambda j: j["complete"], timeout=30)
    assert {(r["state"], r["code"]) for r in job["results"]} == {("cancelled", "A006")}
    assert job["state"] == "cancelled"
    time.sleep(0.5)
    assert subprocess.run(["pgrep", "-f", f"sleep 600{marker}"], capture_output=True).returncode == 1


def test_transitions_are_recorded_in_order(client):
    sub = client.submit("exec.run", {"cmd": "echo hi"}, all=True)
    job = client.wait(sub["job_id"])
    job = client.job(sub["job_id"])
    for r in job["results"]:
        t = r["times"]
        assert t["created"] <= t["dispatched"] <= t["finished"]
        assert t["received"] is not None and t["running"] is not None
        assert t["created"] <= t["received"] <= t["finished"]


def test_hung_host_fails_with_environment_code(fleet, client):
    victim = fleet.profile["agents"][0]
    os.kill(victim["pid"], signal.SIGSTOP)
    try:
        sub = client.submit("exec.run", {"cmd": "echo hi"}, all=True, timeout=2, deadline=20)
        job = _wait(client, sub["job_id"], lambda j: j["complete"], timeout=60)
        by = {r["hostname"]: r for r in job["results"]}
        assert by[victim["hostname"]]["code"] == "E005", by[victim["hostname"]]
        assert sum(1 for r in job["results"] if r["state"] == "succeeded") == AGENTS - 1
        host = next(h for h in client.hosts() if h["hostname"] == victim["hostname"])
        assert not host["online"] and host["code"] == "E005"
    finally:
        os.kill(victim["pid"], signal.SIGCONT)
    # Once it runs again it reports in and is back online; the late result is not stored twice.
    end = time.monotonic() + 30
    while time.monotonic() < end:
        host = next(h for h in client.hosts() if h["hostname"] == victim["hostname"])
        if host["online"]:
            break
        time.sleep(0.3)
    assert host["online"]
    job = client.job(sub["job_id"])
    assert by[victim["hostname"]]["code"] == next(r for r in job["results"] if r["hostname"] == victim["hostname"])["code"]
