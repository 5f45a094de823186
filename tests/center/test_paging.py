"""Paged listings at fleet size: 50,000 host rows and 5,000 jobs in a real store (SQLite,
PostgreSQL, MariaDB). Keyset cursors walk every row exactly once, in order, and each page
is read through an index instead of a sort of the whole table (what keeps `starling hosts`
and `starling jobs` fast at 50k: timings are in bench/listings.py, not here)."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from center import Store
from center._paging import decode_cursor, encode_cursor
from center._store import agents, jobs, past_key
from transports import StarlingError

HOSTS = 50_000
JOBS = 5_000


@pytest.fixture
def big(db_url: str) -> Store:
    store = Store(db_url)
    store.create_all()
    now = time.time()
    rows = [
        {"id": f"h{i:06d}", "sn": f"sn-{i}", "hostname": f"web-{i % 997:03d}-{i:05d}", "ip": f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}",
         "os": "Debian", "idc": f"dc{i % 4}", "tags": json.dumps(["web"] if i % 2 else ["db"]), "version": "1.0", "proxy_id": "p1",
         "carrier": "tcp", "online": i % 10 != 0, "code": "", "last_seen": now, "health": "{}", "registered": now, "revoked": False,
         "public_key": "", "catalogue": ""}
        for i in range(HOSTS)
    ]
    job_rows = [
        {"id": f"j{i:06d}", "account": "a", "action": "exec.run", "params": "{}", "params_raw": b"\x80", "targets": "{}",
         # Pairs of jobs share a creation time: the id breaks the tie in the cursor.
         "created": now - (i // 2), "timeout": 5, "deadline": now + 60, "total": 1, "state": "done", "offline": "fail",
         "stream": False, "finished": now}
        for i in range(JOBS)
    ]
    with store.engine.begin() as conn:
        for start in range(0, HOSTS, 5000):
            conn.execute(agents.insert(), rows[start : start + 5000])
        conn.execute(jobs.insert(), job_rows)
    yield store
    store.engine.dispose()


def test_hosts_page_through_50k_exactly_once_in_order(big: Store) -> None:
    seen: list[tuple[str, str]] = []
    after = None
    pages = 0
    while True:
        page = big.select_agents(all_hosts=True, limit=1000, after=after)
        pages += 1
        seen += [(r.hostname, r.id) for r in page]
        if len(page) < 1000:
            break
        after = decode_cursor(encode_cursor(page[-1].hostname, page[-1].id), str, str)
    assert len(seen) == HOSTS and len(set(seen)) == HOSTS
    assert seen == sorted(seen)
    assert pages == HOSTS // 1000 + 1


def test_a_filtered_page_continues_after_its_cursor(big: Store) -> None:
    first = big.select_agents(all_hosts=True, online=False, idc="dc2", limit=50)
    nxt = big.select_agents(all_hosts=True, online=False, idc="dc2", limit=50, after=(first[-1].hostname, first[-1].id))
    assert len(first) == len(nxt) == 50
    assert (first[-1].hostname, first[-1].id) < (nxt[0].hostname, nxt[0].id)
    assert all(not r.online and r.idc == "dc2" for r in first + nxt)


def test_jobs_page_newest_first_ties_broken_by_id(big: Store) -> None:
    seen: list[str] = []
    before = None
    while True:
        page = big.list_jobs(700, before=before)
        seen += [r.id for r in page]
        if len(page) < 700:
            break
        before = decode_cursor(encode_cursor(page[-1].created, page[-1].id), float, str)
    assert len(seen) == JOBS == len(set(seen))
    created = {r.id: r.created for r in big.list_jobs(JOBS)}
    assert [created[j] for j in seen] == sorted(created.values(), reverse=True)


def _plan(store: Store, query: sa.Select[tuple[object, ...]]) -> str:
    dialect = store.engine.dialect.name
    sql = str(query.compile(store.engine, compile_kwargs={"literal_binds": True}))
    prefix = {"sqlite": "EXPLAIN QUERY PLAN ", "postgresql": "EXPLAIN ", "mysql": "EXPLAIN "}[dialect]
    with store.engine.connect() as conn:
        if dialect == "postgresql":
            conn.execute(sa.text("ANALYZE agents"))
            conn.execute(sa.text("ANALYZE jobs"))
        return "\n".join(" ".join(str(c) for c in row) for row in conn.execute(sa.text(prefix + sql)))


def test_a_deep_page_reads_an_index_not_a_sorted_table(big: Store) -> None:
    hosts = (
        sa.select(agents).order_by(agents.c.hostname, agents.c.id)
        .where(past_key(agents.c.hostname, agents.c.id, ("web-500", "h0")))
        .limit(100)
    )
    plan = _plan(big, hosts)
    assert "agents_hostname_id" in plan, plan
    assert "TEMP B-TREE" not in plan.upper(), plan  # SQLite: no sort of the whole table
    newest = (
        sa.select(jobs).order_by(jobs.c.created.desc(), jobs.c.id.desc())
        .where(past_key(jobs.c.created, jobs.c.id, (time.time() - 1000, "j0"), descending=True)).limit(20)
    )
    plan = _plan(big, newest)
    assert "jobs_created_id" in plan, plan


def test_a_cursor_that_was_not_given_out_is_C001() -> None:
    for raw in ("not-base64!", encode_cursor("a"), encode_cursor(1, "x"), encode_cursor(True, "x"), "W10"):
        with pytest.raises(StarlingError) as err:
            decode_cursor(raw, str, str)
        assert err.value.code.value == "C001"
    assert decode_cursor(encode_cursor(3, "j1"), float, str) == (3.0, "j1")
    assert decode_cursor(None, str, str) is None
