"""Fleet self-upgrade on the center's rollout controls, with real agent processes.

These agents are not packaged (no /opt/starling/agent/VERSION), so ``agent.upgrade``
fails on them with A003: the canary wave fails, the center stops the rollout at the
threshold and never releases the other hosts (C034). A rollout can be paused and
resumed from the CLI. The successful path (install, restart, re-register, roll back)
runs against packaged agents in tests/deb_packages/test_self_upgrade.py.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from tests.deb_packages._center import run_approving

from .conftest import Fleet

pytestmark = pytest.mark.integration

AGENTS = 3


def _approver(fleet: Fleet) -> dict[str, str]:
    bob = fleet.json("accounts", "create", "bob-upgrade", "--approver", "--local")
    return {"STARLING_API": fleet.profile["api"], "STARLING_CA": fleet.profile["ca_file"], "STARLING_KEY_ID": bob["key_id"], "STARLING_SECRET": bob["secret"]}


def test_failed_canary_stops_the_upgrade_on_the_center(fleet: Fleet) -> None:
    approver = _approver(fleet)
    env = dict(os.environ, STARLING_HOME=str(fleet.home), COLUMNS="200")
    env.pop("STARLING_API", None)
    rc, out, err, approved = run_approving(
        ["upgrade", "9.9.9-1.py311", "--all", "--canary", "1", "--max-failures", "0", "--json"], env, approver, timeout=120,
    )
    doc: dict[str, Any] = json.loads(out)
    assert rc == 1, (out, err)
    # One job on the center, not one per wave: the rollout stopped after the canary.
    assert approved == [doc["job_id"]] and doc["stopped"] and doc["failed"] == 1 and doc["upgraded"] == 0, doc
    results = sorted(r["result"] for r in doc["hosts"])
    assert results == ["failed", "not attempted", "not attempted"], doc["hosts"]
    (bad,) = [r for r in doc["hosts"] if r["result"] == "failed"]
    assert bad["code"] == "A003" and "not a packaged agent" in bad["message"], bad
    from center import Client

    p = fleet.profile
    job = Client(p["api"], p["key_id"], p["secret"], p["ca_file"]).job(doc["job_id"])
    assert job["rollout"]["state"] == "stopped" and job["rollout"]["released"] == 1, job["rollout"]
    assert sorted(r["code"] for r in job["results"]) == ["A003", "C034", "C034"]


def test_pause_and_resume_a_rollout(fleet: Fleet) -> None:
    from center import Client

    p = fleet.profile
    client = Client(p["api"], p["key_id"], p["secret"], p["ca_file"])
    job = client.submit("exec.run", {"cmd": "sleep 3"}, all=True, rollout={"canary": 1, "growth": 1.0})["job_id"]
    paused = client.pause(job)
    assert paused["rollout"]["state"] == "held" and paused["rollout"]["released"] == 1, paused
    time.sleep(6)  # the canary (3 s) is done: a running rollout would have released more
    view = client.job(job)
    assert view["rollout"]["state"] == "held" and view["rollout"]["released"] == 1, view["rollout"]
    assert sorted(r["state"] for r in view["results"]) == ["created", "created", "succeeded"], view["results"]
    # Resuming a finished or unknown job says why.
    bad = fleet.cli("job", "no-such-job", "--resume")
    assert bad.returncode != 0 and "C004" in bad.stdout + bad.stderr
    resumed = fleet.json("job", job, "--resume")
    assert resumed["rollout"]["state"] in ("running", "done"), resumed
    end = time.monotonic() + 60
    while not client.wait(job, timeout=5)["complete"] and time.monotonic() < end:
        pass
    view = client.job(job)
    assert [r["state"] for r in view["results"]] == ["succeeded"] * AGENTS and view["rollout"]["state"] == "done", view
    again = fleet.cli("job", job, "--pause")
    assert again.returncode != 0 and "C026" in again.stdout + again.stderr
