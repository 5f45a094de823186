"""The store behaves the same on SQLite, PostgreSQL and MariaDB: batched,
idempotent, forward-only."""

from __future__ import annotations

import time

import pytest

from center import Store
from center._rows import JobRow, NewTask
from center._store import Enrollee, HostBeat
from transports import Result, TaskEvent, encode_value


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    s.create_all()
    yield s
    s.engine.dispose()


def _agents(store, n, idc="bj1"):
    ids = []
    for i in range(n):
        aid, revoked = store.register_agent({"sn": f"sn-{i}", "hostname": f"h{i:02d}", "ip": f"10.0.0.{i}", "idc": idc, "tags": ["web"] if i % 2 else ["db"]}, "1.0")
        assert not revoked
        ids.append(aid)
    return ids


def _job(store, agent_ids, job_id="j1", deadline=None):
    now = time.time()
    store.create_job(
        JobRow(id=job_id, account="a", action="exec.run", params="{}", params_raw=b"\x80", targets="{}",
               created=now, timeout=5, deadline=deadline or now + 60, total=len(agent_ids), state="running",
               offline="fail", stream=False),
        [NewTask(id=f"{job_id}-{i:x}", job_id=job_id, agent_id=a, deadline=deadline or now + 60, created=now)
         for i, a in enumerate(agent_ids)],
    )
    return [f"{job_id}-{i:x}" for i in range(len(agent_ids))]


def test_register_is_an_upsert_by_sn(store):
    a, _ = store.register_agent({"sn": "X", "hostname": "one", "ip": "1.1.1.1"}, "1")
    b, _ = store.register_agent({"sn": "X", "hostname": "renamed", "ip": "1.1.1.2"}, "2")
    assert a == b
    row = store.select_agents(hosts=[a])[0]
    assert (row.hostname, row.ip, row.version) == ("renamed", "1.1.1.2", "2")
    assert store.revoke_agent(a) and store.register_agent({"sn": "X", "hostname": "x", "ip": ""}, "2")[1] is True


def test_selection_by_host_tag_idc(store):
    ids = _agents(store, 6)
    assert len(store.select_agents(all_hosts=True)) == 6
    assert {r.id for r in store.select_agents(tags=["web"])} == set(ids[1::2])
    assert len(store.select_agents(idc="bj1")) == 6 and store.select_agents(idc="nope") == []
    assert [r.id for r in store.select_agents(hosts=["h03"])] == [ids[3]]
    assert store.select_agents() == []


def test_presence_changes_and_snapshots(store):
    ids = _agents(store, 3)
    now = time.time()
    store.presence_changes("p1", [HostBeat(a, "p1", now, "tcp", '{"load1": 0.5, "cpus": 2}') for a in ids], [])
    rows = {r.id: r for r in store.select_agents(all_hosts=True)}
    assert all(r.online and r.proxy_id == "p1" and r.carrier == "tcp" for r in rows.values())
    # another proxy cannot take an agent offline that p1 holds
    store.presence_changes("p2", [], [(ids[0], "E001")])
    assert store.select_agents(hosts=[ids[0]])[0].online
    # a bare beat keeps the health a heartbeat carried; a snapshot lands only on the holder's row
    store.presence_snapshot([HostBeat(ids[1], "p1", now + 5), HostBeat(ids[0], "p9", now + 9)])
    rows = {r.id: r for r in store.select_agents(all_hosts=True)}
    assert rows[ids[1]].last_seen == now + 5 and rows[ids[1]].health["load1"] == 0.5
    assert rows[ids[0]].last_seen == now and rows[ids[0]].proxy_id == "p1"
    # a full report from p1 that lacks ids[2] takes it offline
    store.presence_changes("p1", [], [], present=ids[:2])
    rows = {r.id: r for r in store.select_agents(all_hosts=True)}
    assert not rows[ids[2]].online and rows[ids[2]].code == "E001" and rows[ids[1]].online
    # a snapshot older than the news does not revive a host its proxy reported gone;
    # one the sweeper found stale (E005) while it beat is online again
    store.presence_snapshot([HostBeat(ids[2], "p1", now + 6)])
    assert not store.select_agents(hosts=[ids[2]])[0].online
    store.mark_stale_agents(now + 5.5)
    assert {r.id: r.code for r in store.select_agents(all_hosts=True) if not r.online} == {ids[0]: "E005", ids[1]: "E005", ids[2]: "E001"}
    store.presence_snapshot([HostBeat(ids[1], "p1", now + 7)])
    assert store.select_agents(hosts=[ids[1]])[0].online
    store.proxy_lost("p1")
    assert not any(r.online for r in store.select_agents(all_hosts=True))


def test_registration_batch_is_one_upsert(store):
    ids = _agents(store, 2)
    store.revoke_agent(ids[1])
    batch = [Enrollee(sn="sn-0", hostname="renamed"), Enrollee(sn="sn-1"), Enrollee(sn="new-a", tags=("b", "a")), Enrollee(sn="new-a", ip="10.9.9.9")]
    got = store.register_agents(batch)
    assert got[0] == (ids[0], False) and got[1] == (ids[1], True)
    assert got[2] == got[3] and got[2][0] not in ids and got[2][1] is False
    rows = {r.sn: r for r in store.select_agents(all_hosts=True)}
    assert rows["sn-0"].hostname == "renamed" and rows["new-a"].ip == "10.9.9.9" and len(rows) == 3
    # a second batch finds them again (by SN), and an empty batch is nothing
    assert store.register_agents([Enrollee(sn="new-a")]) == [got[2]] and store.register_agents([]) == []


def test_progress_of_many_batches_is_one_transaction(store):
    ids = _agents(store, 4)
    tids = _job(store, ids)
    now = time.time()
    events = [TaskEvent(t, "running", now) for t in tids]
    results = [Result(task_id=t, state="succeeded", exit_code=0, finished=now) for t in tids[:2]]
    assert store.store_progress(events, results) == {"j1"}
    assert store.job_counts("j1") == {"succeeded": 2, "running": 2}
    assert store.store_progress([], []) == set()


def test_progress_stores_every_field_of_events_and_results(store):
    """The batch path hands rows to the driver as they are: every column must land as
    the slow path stored it, on each backend."""
    ids = _agents(store, 2)
    tids = _job(store, ids)
    events = [TaskEvent(tids[0], "delivered", 101.5), TaskEvent(tids[0], "received", 102.25), TaskEvent(tids[1], "running", 103.0)]
    results = [
        Result(task_id=tids[0], state="failed", code="A008", message="exited with status 3", exit_code=3, stdout="out \u00e9",
               stderr="err", data=encode_value({"k": [1, 2]}), truncated=True, started=104.0, finished=105.5),
        Result(task_id=tids[1], state="succeeded", exit_code=0, started=110.0, finished=111.0),
    ]
    assert store.store_progress(events, results) == {"j1"}
    by = {t.id: t for t in store.job_tasks("j1")}
    a, b = by[tids[0]], by[tids[1]]
    assert (a.state, a.code, a.message, a.exit_code, a.stdout, a.stderr) == ("failed", "A008", "exited with status 3", 3, "out \u00e9", "err")
    assert a.data == {"k": [1, 2]} and a.truncated is True
    assert (a.delivered, a.received, a.running, a.finished) == (101.5, 102.25, 104.0, 105.5)
    assert (b.state, b.exit_code, b.truncated, b.data, b.running, b.finished) == ("succeeded", 0, False, None, 103.0, 111.0)


def test_transitions_only_move_forward_and_results_store_once(store):
    ids = _agents(store, 3)
    tids = _job(store, ids)
    store.mark(tids, "dispatched", time.time(), "p1")
    now = time.time()
    store.apply_events([TaskEvent(tids[0], "running", now), TaskEvent(tids[0], "received", now), TaskEvent(tids[1], "delivered", now)])
    by = {t.id: t for t in store.job_tasks("j1")}
    assert by[tids[0]].state == "running" and by[tids[1]].state == "delivered"
    res = Result(task_id=tids[0], state="succeeded", exit_code=0, stdout="first", finished=now)
    assert store.store_results([res]) == {"j1"}
    store.store_results([Result(task_id=tids[0], state="failed", code="A008", stdout="second", finished=now)])
    store.apply_events([TaskEvent(tids[0], "running", now)])
    by = {t.id: t for t in store.job_tasks("j1")}
    assert (by[tids[0]].state, by[tids[0]].stdout) == ("succeeded", "first")
    assert store.job_counts("j1") == {"succeeded": 1, "delivered": 1, "dispatched": 1}
    assert not store.finish_job_if_done("j1")
    store.finalize([(tids[1], "failed", "P002", "lost"), (tids[2], "failed", "E001", "offline"), (tids[0], "failed", "X", "ignored")])
    assert store.finish_job_if_done("j1")
    assert store.job("j1").state == "done"
    assert store.job_counts("j1") == {"succeeded": 1, "failed": 2}


def test_batched_job_of_many_hosts(store):
    ids = _agents(store, 300)
    tids = _job(store, ids)
    store.mark(tids, "dispatched", time.time(), "p1")
    store.store_results([Result(task_id=t, state="succeeded", exit_code=0, finished=time.time()) for t in tids])
    assert store.job_counts("j1") == {"succeeded": 300}
    assert [t for t, _ in store.job_task_refs("j1")] == tids


def test_due_and_stuck_tasks(store):
    ids = _agents(store, 2)
    now = time.time()
    tids = _job(store, ids, deadline=now - 1)
    due = {r.id for r in store.due_tasks(now)}
    assert due == set(tids)
    store.presence_changes("p1", [HostBeat(a, "p1", now) for a in ids], [])
    tids2 = _job(store, ids, job_id="j2", deadline=now + 60)
    assert {r.id for r in store.stuck_tasks(now, now + 1, ["p1"])} == set(tids2)
    assert store.stuck_tasks(now, now + 1, ["p9"]) == []
    store.mark(tids2, "dispatched", now + 5, "p1")
    assert store.stuck_tasks(now, now + 1, ["p1"]) == []
    # Written to the agent's connection: the longer wait applies, from its last hop.
    store.mark(tids2[:1], "delivered", now + 2, "p1")
    assert {r.id for r in store.stuck_tasks(now, now + 4, ["p1"], delivered_before=now + 6)} == {tids2[0]}
    assert store.stuck_tasks(now, now + 4, ["p1"], delivered_before=now + 4) == []  # dispatched at +5
    assert {r.id for r in store.stuck_tasks(now, now + 6, ["p1"], delivered_before=now + 4)} == {tids2[1]}
    # Sent again at +8: it waits its full while from there, not from the first delivery.
    store.mark(tids2[:1], "dispatched", now + 8, "p1")
    assert store.stuck_tasks(now, now + 4, ["p1"], delivered_before=now + 6) == []
    assert {r.id for r in store.stuck_tasks(now, now + 4, ["p1"], delivered_before=now + 9)} == {tids2[0]}
    assert {r.id for r in store.undelivered_for(ids, now)} == set(tids2)


def test_final_ids_and_rows_by_id_for_the_live_result_stream(store):
    ids = _agents(store, 1200)
    tids = _job(store, ids)
    other = _job(store, ids[:2], job_id="j2")
    store.mark(tids, "dispatched", time.time(), "p1")
    assert store.job_final_ids("j1") == []
    done = tids[:700]  # more than one 500-id chunk
    store.store_results([Result(task_id=t, state="failed", code="A008", exit_code=3, stdout=t, data=b"\x81\xa1k\x01", finished=time.time()) for t in done])
    assert sorted(store.job_final_ids("j1")) == sorted(done)
    rows = store.tasks_by_id("j1", done + other)  # another job's ids are not this job's rows
    assert sorted(r.id for r in rows) == sorted(done)
    by = {r.id: r for r in rows}
    assert by[done[0]].stdout == done[0] and by[done[0]].hostname == "h00" and by[done[0]].data == {"k": 1}


def test_the_async_facade_mirrors_every_store_method():
    """AsyncStore is explicit (typed, no __getattr__): each public Store method
    has an awaitable twin with the same parameters."""
    import inspect

    from center._store import AsyncStore

    skip = {"create_all", "migrate", "drop_all"}
    public = {n for n, f in inspect.getmembers(Store, inspect.isfunction) if not n.startswith("_") and n not in skip}
    twins = {n for n, f in inspect.getmembers(AsyncStore, inspect.iscoroutinefunction) if not n.startswith("_")} - {"call"}
    assert public == twins
    for name in public:
        sync_params = list(inspect.signature(getattr(Store, name)).parameters.values())
        async_params = list(inspect.signature(getattr(AsyncStore, name)).parameters.values())
        assert [(p.name, p.kind, p.default) for p in sync_params] == [(p.name, p.kind, p.default) for p in async_params], name
    assert not hasattr(AsyncStore, "__getattr__")
