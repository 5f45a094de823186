"""The hash-chained audit log on real SQLite files, tampered with raw SQL."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from center.security._audit import (
    GENESIS,
    AuditEntry,
    AuditLog,
    AuditRecord,
    audit_table,
    chain_hash,
    verify_chain,
)


@pytest.fixture
def engine(tmp_path):
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'center.db'}")
    yield eng
    eng.dispose()


def _log(engine, key=None, n=6) -> AuditLog:
    meta = sa.MetaData()
    log = AuditLog(engine, audit_table(meta), key=key, clock=iter(range(1000, 2000)).__next__)
    log.create()
    for i in range(n):
        log.append(f"user{i % 2}", "api.call", f"/api/v1/jobs/{i}", {"i": i, "ok": True, "why": "é"})
    return log


def _raw(engine, sql, **params):
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _kinds(problems):
    return [(p.seq, p.kind) for p in problems]


def test_intact_log_verifies(engine):
    log = _log(engine)
    assert log.verify() == []
    records = list(log.iter_records())
    assert [r.seq for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[0].prev_hash == GENESIS
    assert records[3].detail_value() == {"i": 3, "ok": True, "why": "é"}
    assert log.head() == (6, records[-1].hash)
    assert list(log.iter_records(start=5, batch=1)) == records[4:]


def test_empty_log(engine):
    log = AuditLog(engine)
    log.create()
    assert log.head() is None
    assert log.verify() == []
    assert log.append_many([]) == []


@pytest.mark.parametrize("column,value", [
    ("actor", "'mallory'"), ("detail", "replace(detail, 'true', 'false')"),
    ("time_us", "time_us + 1"), ("kind", "'noop'"), ("subject", "''"),
])
def test_edited_record_is_detected(engine, column, value):
    log = _log(engine)
    _raw(engine, f"UPDATE audit_log SET {column} = {value} WHERE seq = 4")
    assert _kinds(log.verify()) == [(4, "edited")]


def test_edit_with_recomputed_hash_breaks_the_next_link(engine):
    log = _log(engine)
    rec = next(r for r in log.iter_records() if r.seq == 3)
    forged = AuditRecord(3, rec.time, "mallory", rec.kind, rec.subject, rec.detail, rec.prev_hash, "")
    _raw(engine, "UPDATE audit_log SET actor='mallory', hash=:h WHERE seq=3",
         h=chain_hash(rec.prev_hash, forged))
    assert _kinds(log.verify()) == [(4, "inserted")]


def test_deleted_record_is_detected(engine):
    log = _log(engine)
    _raw(engine, "DELETE FROM audit_log WHERE seq IN (3, 4)")
    problems = log.verify()
    assert _kinds(problems) == [(3, "deleted")]
    assert "records 3..4 missing" in str(problems[0])


def test_deleted_first_record_is_detected(engine):
    log = _log(engine)
    _raw(engine, "DELETE FROM audit_log WHERE seq = 1")
    assert _kinds(log.verify()) == [(1, "deleted")]


def test_deleted_and_renumbered_is_detected(engine):
    """Delete record 3 and shift the rest down to hide the gap."""
    log = _log(engine)
    _raw(engine, "DELETE FROM audit_log WHERE seq = 3")
    _raw(engine, "UPDATE audit_log SET seq = seq - 1 WHERE seq > 3")
    kinds = {k for _, k in _kinds(log.verify())}
    assert "edited" in kinds


def test_inserted_record_is_detected(engine):
    """Make room at seq 3 and insert a self-consistent forged record there."""
    log = _log(engine)
    _raw(engine, "UPDATE audit_log SET seq = seq + 100 WHERE seq >= 3")
    _raw(engine, "UPDATE audit_log SET seq = seq - 99 WHERE seq >= 100")
    prev = next(r for r in log.iter_records() if r.seq == 2)
    fake = {"seq": 3, "time": 1001.5, "actor": "mallory", "kind": "api.call", "subject": "x",
            "detail": "{}"}
    _raw(engine, "INSERT INTO audit_log VALUES (3, 1001500000, 'mallory', 'api.call', 'x', '{}', "
                 ":p, :h)", p=prev.hash, h=chain_hash(prev.hash, fake))
    problems = log.verify()
    # The forged record itself links fine; every renumbered record after it does not.
    assert (3, "edited") not in _kinds(problems)
    assert (4, "edited") in _kinds(problems)


def test_swapped_records_are_detected(engine):
    log = _log(engine)
    _raw(engine, "UPDATE audit_log SET seq = -1 WHERE seq = 2")
    _raw(engine, "UPDATE audit_log SET seq = 2 WHERE seq = 5")
    _raw(engine, "UPDATE audit_log SET seq = 5 WHERE seq = -1")
    assert {(2, "edited"), (5, "edited")} <= set(_kinds(log.verify()))


def test_reordered_in_memory_and_inserted_duplicate():
    recs = []
    prev = GENESIS
    for i in range(1, 5):
        base = AuditRecord(i, 1.0 * i, "a", "k", "s", "{}", prev, "")
        prev = chain_hash(prev, base)
        recs.append(AuditRecord(i, 1.0 * i, "a", "k", "s", "{}", base.prev_hash, prev))
    assert verify_chain(recs) == []
    assert (2, "reordered") in _kinds(verify_chain([recs[0], recs[2], recs[1], recs[3]]))
    assert (2, "reordered") in _kinds(verify_chain([recs[0], recs[1], recs[1], recs[2]]))


def test_truncated_tail_needs_the_anchor(engine):
    log = _log(engine)
    anchor = log.head()
    _raw(engine, "DELETE FROM audit_log WHERE seq >= 5")
    assert log.verify() == []  # a bare chain cannot see a cut tail...
    assert _kinds(log.verify(anchor=anchor)) == [(6, "deleted")]  # ...the anchor can
    assert anchor is not None
    assert _kinds(log.verify(anchor=(anchor[0] - 2, "f" * 64))) == [(4, "anchor")]


def test_keyed_log_resists_full_recomputation(engine):
    """With an audit key, rewriting a record and recomputing every hash without the key fails."""
    key = b"audit-key-kept-outside-the-db"
    log = _log(engine, key=key)
    assert log.verify() == []
    prev = GENESIS
    with engine.begin() as conn:
        rows = conn.execute(sa.text("SELECT seq, time_us, actor, kind, subject, detail "
                                    "FROM audit_log ORDER BY seq")).all()
        for row in rows:
            rec = {"seq": row.seq, "time": row.time_us / 1e6, "actor": "mallory", "kind": row.kind,
                   "subject": row.subject, "detail": row.detail}
            h = chain_hash(prev, rec)  # no key: the attacker does not have it
            conn.execute(sa.text("UPDATE audit_log SET actor='mallory', prev_hash=:p, hash=:h "
                                 "WHERE seq=:s"), {"p": prev, "h": h, "s": row.seq})
            prev = h
    assert {k for _, k in _kinds(log.verify())} == {"edited"}
    assert AuditLog(engine, log.table).verify() == []  # which is why the key matters


def test_append_many_and_concurrent_writers_keep_one_chain(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    engines = [sa.create_engine(url, connect_args={"timeout": 30}) for _ in range(4)]
    meta = sa.MetaData()
    table = audit_table(meta)
    AuditLog(engines[0], table).create()

    def writer(i: int) -> None:
        log = AuditLog(engines[i], table)
        for j in range(15):
            if j % 5 == 0:
                log.append_many([AuditEntry(f"w{i}", "task.dispatch", f"job{j}", {"n": n})
                                 for n in range(3)])
            else:
                log.append(f"w{i}", "api.call", f"/x/{j}")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log = AuditLog(engines[0], table)
    records = list(log.iter_records())
    assert len(records) == 4 * (12 + 3 * 3)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    assert log.verify() == []
    for e in engines:
        e.dispose()


def test_long_fields_are_cut_before_hashing(engine):
    log = AuditLog(engine)
    log.create()
    rec = log.append("a" * 1000, "k" * 100, "s" * 2000, {"b": b"bytes", "n": None})
    assert (len(rec.actor), len(rec.kind), len(rec.subject)) == (255, 64, 512)
    assert log.verify() == []
