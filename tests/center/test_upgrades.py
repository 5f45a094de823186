"""The center's side of agent.upgrade on a real store (SQLite, PostgreSQL, MariaDB): a
scheduled result keeps the task open, the host's next registration closes it (new
version: succeeded; any other: A026), a result re-sent after the host came back closes
it at once, and the sweeper's verdict on one that never came back is A026."""

from __future__ import annotations

import json
import time

import msgspec
import pytest

from center import Store
from center._rows import JobRow, NewTask, TaskRow
from center._upgrades import _conclude, _hold, _upgrade_tasks, classify_overdue
from transports import Result, encode_value


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    s.create_all()
    yield s
    s.engine.dispose()


def _fleet(store: Store, n: int) -> tuple[list[str], list[str]]:
    now = time.time()
    hosts = [store.register_agent({"sn": f"up-{i}", "hostname": f"u{i}", "ip": f"10.1.0.{i}"}, "1.0-1")[0] for i in range(n)]
    store.create_job(
        JobRow(id="ju", account="a", action="agent.upgrade", params=json.dumps({"version": "1.1-1", "wait": 30}),
               params_raw=b"\x80", targets="{}", created=now, timeout=60, deadline=now + 60, total=n,
               state="running", offline="fail", stream=False),
        [NewTask(id=f"ju-{i:x}", job_id="ju", agent_id=h, state="running", deadline=now + 60, created=now) for i, h in enumerate(hosts)],
    )
    return hosts, [f"ju-{i:x}" for i in range(n)]


def _scheduled(task_id: str) -> Result:
    return Result(task_id=task_id, state="succeeded", data=encode_value({"from": "1.0-1", "to": "1.1-1", "tool": "apt", "helper": "/x"}), started=time.time())


def _task(store: Store, task_id: str) -> TaskRow:
    return next(t for t in store.job_tasks("ju") if t.id == task_id)


def test_an_upgrade_ends_when_the_host_is_back(store):
    hosts, tids = _fleet(store, 3)
    info = _upgrade_tasks(store, tids)
    assert set(info) == set(tids)
    assert _hold(store, [_scheduled(t) for t in tids], info, time.time()) == {"ju"}
    held = _task(store, tids[0])
    assert held.state == "running" and held.data["result"] == "upgrading" and "waiting for the host" in held.message
    assert held.deadline > time.time() + 30  # the job's wait plus the margin
    # Back on the new version: succeeded, with old -> new recorded.
    store.register_agent({"sn": "up-0", "hostname": "u0", "ip": "10.1.0.0"}, "1.1-1")
    assert _conclude(store, {hosts[0]: "1.1-1"}) == {"ju"}
    done = _task(store, tids[0])
    assert done.state == "succeeded" and done.data == {"from": "1.0-1", "to": "1.1-1", "result": "upgraded", "now": "1.1-1"}
    # Back on the old one: the helper rolled it back.
    assert _conclude(store, {hosts[1]: "1.0-1"}) == {"ju"}
    back = _task(store, tids[1])
    assert back.state == "failed" and back.code == "A026" and back.data["result"] == "rolled back"
    # Never back: the sweeper says A026, not a generic timeout.
    row = next(r for r in store.due_tasks(time.time() + 86400) if r.id == tids[2])
    assert (row.state, row.action) == ("running", "agent.upgrade") and classify_overdue(row)[2] == "A026"
    assert classify_overdue(msgspec.structs.replace(row, id="x", action="exec.run")) is None
    # A registration with no upgrade in flight changes nothing.
    assert _conclude(store, {hosts[0]: "1.1-1"}) == set()


def test_a_result_resent_after_the_restart_closes_at_once(store):
    hosts, tids = _fleet(store, 1)
    # The agent restarted and registered with the new version before its result was acknowledged.
    store.register_agent({"sn": "up-0", "hostname": "u0", "ip": "10.1.0.0"}, "1.1-1")
    _hold(store, [_scheduled(tids[0])], _upgrade_tasks(store, tids), time.time())
    t = _task(store, tids[0])
    assert t.state == "succeeded" and t.data["now"] == "1.1-1"
    # Results of other actions are not taken.
    assert _upgrade_tasks(store, ["nope-0"]) == {}
