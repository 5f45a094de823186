"""The sweeper names the cause of an overdue task from the host's last report."""

from __future__ import annotations

import json
import time

import pytest

from center._center import Center
from center._rows import DueTask


class _Store:
    pass


@pytest.fixture
def center():
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return Center(_Store(), ed25519.Ed25519PrivateKey.generate(), proxy_token="t", heartbeat=5, grace_heartbeats=3)


def row(state="running", online=True, code="", health=None, seen_ago=1.0, job_state="running"):
    # last_seen is filled in when the test runs (collection may be minutes earlier).
    return {"id": "j-1", "state": state, "agent_id": "h1", "online": online, "code": code, "health": json.dumps(health or {}), "seen_ago": seen_ago,
            "proxy_id": "p1", "revoked": False, "version": "1.0", "job_state": job_state, "action": "exec.run"}


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        (row(online=False, state="created"), "E001"),
        (row(online=False, state="running"), "P002"),
        (row(online=False, code="E005", state="delivered"), "E005"),
        (row(seen_ago=60), "E005"),
        (row(health={"disks": [{"mount": "/", "total": 100, "used": 99}]}), "E002"),
        (row(health={"cpus": 2, "load1": 40.0}), "E003"),
        (row(health={"mem_total": 1000, "mem_available": 10}), "E004"),
        (row(health={"cpus": 2, "load1": 1.0, "mem_total": 1000, "mem_available": 500}), "C005"),
        (row(state="created"), "C005"),
        (row(job_state="pending_approval"), "C011"),
    ],
)
def test_classify_overdue(center, r, expected):
    now = time.time()
    fields = {k: v for k, v in r.items() if k != "seen_ago"}
    assert center.sweeper.classify_overdue(DueTask(**fields, last_seen=now - r["seen_ago"]), now)[2] == expected
