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
    _raw(engine, "INSERT INTO audit_log (seq, time_us, actor, kind, subject, detail, prev_hash, hash) "
                 "VALUES (3, 1001500000, 'mallory', 'api.call', 'x', '{}', :p, :h)", p=prev.hash, h=chain_hash(prev.hash, fake))
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
    problems = log.verify(anchor=anchor)
    assert _kinds(problems) == [(5, "truncated")]  # ...the anchor can
    assert "ends at record 4, but record 6 was anchored" in problems[0].message
    assert anchor is not None
    # A stored hash that differs from its anchor: the chain was rewritten.
    assert _kinds(log.verify(anchor=(anchor[0] - 2, "f" * 64))) == [(4, "recomputed")]


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
    problems = log.verify()
    assert _kinds(problems) == [(1, "recomputed")]  # one problem for the whole re-hashed run
    assert "records 1..6 fail their MAC yet link together" in problems[0].message
    # A verifier without the ring cannot check keyed records at all, and says so.
    assert _kinds(AuditLog(engine, log.table).verify()) == [(1, "unknown-key")]
    # Dropping the key ids to pass as an unkeyed log fools only a verifier without the key.
    _raw(engine, "UPDATE audit_log SET key_id = ''")
    assert AuditLog(engine, log.table).verify() == []  # which is why the key matters
    problems = log.verify()
    assert _kinds(problems) == [(1, "unkeyed")]
    assert "records 1..6 carry no MAC in a keyed log" in problems[0].message


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


# -- keys, rotation and the classification of tampering (keyed logs) ------------------

from center.security import (  # noqa: E402
    Anchor,
    AuditKey,
    AuditKeyError,
    AuditKeyRing,
    FileAnchorSink,
    SyslogAnchorSink,
    check_anchor,
    make_anchor,
    rotate_key_file,
    upgrade_audit_table,
)


def _keyed(engine, tmp_path, n=6):
    ring = AuditKeyRing.load_or_create(tmp_path / "audit.key")
    return _log(engine, key=ring, n=n), ring


def _mode(path):
    return path.stat().st_mode & 0o777


def test_key_file_is_made_0600_and_round_trips(tmp_path):
    path = tmp_path / "audit.key"
    ring = AuditKeyRing.load_or_create(path)
    assert _mode(path) == 0o600
    again = AuditKeyRing.load(path)
    assert [k.id for k in again] == [ring.current.id] and again.current.secret == ring.current.secret
    assert ring.current.secret.hex() not in repr(ring) + repr(ring.current)  # never printed


@pytest.mark.parametrize("text,why", [
    ("", "no key"),
    ("only-an-id\n", "expected"),
    ("k1 c2hvcnQ\n", "shorter than 16"),
    ("k1 %%%%\n", "base64url"),
    ("bad id! " + "A" * 43 + "\n", "expected"),
])
def test_malformed_key_files_are_refused(text, why):
    with pytest.raises(AuditKeyError, match=why):
        AuditKeyRing.parse(text)


def test_duplicate_key_ids_are_refused():
    k = AuditKey("k1", b"x" * 32)
    with pytest.raises(AuditKeyError, match="duplicate"):
        AuditKeyRing([k, k])


def test_records_name_their_key_and_survive_rotation(engine, tmp_path):
    log, ring = _keyed(engine, tmp_path, n=3)
    assert {r.key_id for r in log.iter_records()} == {ring.current.id}
    new = rotate_key_file(tmp_path / "audit.key")
    rotated = AuditKeyRing.load(tmp_path / "audit.key")
    assert [k.id for k in rotated] == [ring.current.id, new.id] and rotated.current.id == new.id
    log2 = AuditLog(engine, log.table, key=rotated)
    log2.append("admin", "account.create", "k9", {"admin": False})
    records = list(log2.iter_records())
    assert [r.key_id for r in records] == [ring.current.id] * 3 + [new.id]
    assert log2.verify() == []  # old records verify with the old key, new with the new
    # Drop the old key from the ring: its records can no longer be checked, and that is said.
    assert _kinds(AuditLog(engine, log.table, key=AuditKeyRing([new])).verify()) == [(1, "unknown-key")]


def test_keyed_edit_is_edited_not_recomputed(engine, tmp_path):
    log, _ = _keyed(engine, tmp_path)
    _raw(engine, "UPDATE audit_log SET detail = '{}' WHERE seq = 3")
    problems = log.verify()
    assert _kinds(problems) == [(3, "edited")]


def test_keyed_edit_with_rehash_of_last_record_is_recomputed(engine, tmp_path):
    log, _ = _keyed(engine, tmp_path)
    last = list(log.iter_records())[-1]
    forged = AuditRecord(last.seq, last.time, "mallory", last.kind, last.subject, last.detail,
                         last.prev_hash, "", last.key_id)
    _raw(engine, "UPDATE audit_log SET actor = 'mallory', hash = :h WHERE seq = :s",
         h=chain_hash(last.prev_hash, forged), s=last.seq)
    assert _kinds(log.verify()) == [(6, "recomputed")]


def test_keyed_rewrite_from_the_middle_is_one_recomputed_problem(engine, tmp_path):
    log, _ = _keyed(engine, tmp_path, n=10)
    records = list(log.iter_records())
    prev = records[3].hash
    with engine.begin() as conn:
        for r in records[4:]:
            actor = "mallory" if r.seq == 5 else r.actor
            fake = AuditRecord(r.seq, r.time, actor, r.kind, r.subject, r.detail, prev, "", r.key_id)
            h = chain_hash(prev, fake, b"a guessed key")
            conn.execute(sa.text("UPDATE audit_log SET actor=:a, prev_hash=:p, hash=:h WHERE seq=:s"),
                         {"a": actor, "p": prev, "h": h, "s": r.seq})
            prev = h
    problems = log.verify()
    assert _kinds(problems) == [(5, "recomputed")]
    assert "records 5..10" in problems[0].message


def test_rewrite_with_the_key_is_caught_by_an_anchor(engine, tmp_path):
    """Whoever holds the key can re-MAC the chain; an anchor written earlier still sees it."""
    log, ring = _keyed(engine, tmp_path)
    anchor = make_anchor(ring, *log.head(), center="c1")
    records = list(log.iter_records())
    prev = records[1].hash
    with engine.begin() as conn:
        for r in records[2:]:
            fake = AuditRecord(r.seq, r.time, "mallory", r.kind, r.subject, r.detail, prev, "", r.key_id)
            h = chain_hash(prev, fake, ring.current.secret)
            conn.execute(sa.text("UPDATE audit_log SET actor='mallory', prev_hash=:p, hash=:h WHERE seq=:s"),
                         {"p": prev, "h": h, "s": r.seq})
            prev = h
    assert log.verify() == []  # the MACs hold...
    problems = log.verify(anchors=[anchor])
    assert _kinds(problems) == [(6, "recomputed")]  # ...the anchor does not
    assert "differs from the head anchored at" in problems[0].message


def test_deleted_records_in_a_keyed_log(engine, tmp_path):
    log, _ = _keyed(engine, tmp_path)
    _raw(engine, "DELETE FROM audit_log WHERE seq = 2")
    assert _kinds(log.verify()) == [(2, "deleted")]


def test_truncated_tail_against_anchor_file(engine, tmp_path):
    log, ring = _keyed(engine, tmp_path)
    sink = FileAnchorSink(tmp_path / "anchors.jsonl")
    sink.write(make_anchor(ring, 4, next(r.hash for r in log.iter_records() if r.seq == 4), at=1000.0))
    sink.write(make_anchor(ring, *log.head(), at=2000.0))
    assert _mode(tmp_path / "anchors.jsonl") == 0o600
    anchors, problems = sink.read(ring)
    assert problems == [] and [a.seq for a in anchors] == [4, 6]
    assert log.verify(anchors=anchors) == []
    _raw(engine, "DELETE FROM audit_log WHERE seq >= 5")
    problems = log.verify(anchors=anchors)
    assert _kinds(problems) == [(5, "truncated")]
    assert "1970-01-01T00:33:20Z" in problems[0].message
    _raw(engine, "DELETE FROM audit_log")
    assert _kinds(log.verify(anchors=anchors)) == [(1, "truncated")]


def test_edited_or_forged_anchors_are_reported_and_not_trusted(tmp_path):
    ring = AuditKeyRing([AuditKey("k1", b"k" * 32)])
    path = tmp_path / "anchors.jsonl"
    sink = FileAnchorSink(path)
    good = make_anchor(ring, 5, "a" * 64, center="c1")
    assert check_anchor(ring, good) is None
    sink.write(good)
    sink.write(make_anchor(AuditKeyRing([AuditKey("k1", b"m" * 32)]), 9, "b" * 64))  # wrong key
    sink.write(make_anchor(AuditKeyRing([AuditKey("k2", b"m" * 32)]), 9, "b" * 64))  # unknown key
    lines = path.read_text().splitlines()
    lines.append(lines[0].replace('"seq":5', '"seq":3'))  # edited after writing
    lines.append("not json")
    path.write_text("\n".join(lines) + "\n" + '{"seq": 12, "ha')  # and a crash mid-write
    anchors, problems = sink.read(ring)
    assert anchors == [good]
    assert [(p.seq, p.kind) for p in problems] == [(9, "anchor"), (9, "anchor"), (3, "anchor"), (0, "anchor")]
    assert "does not match its MAC" in problems[0].message and "lacks" in problems[1].message
    assert sink.read(None)[0] == []  # without a key nothing is trusted
    assert FileAnchorSink(tmp_path / "none.jsonl").read(ring) == ([], [])


def test_syslog_sink_sends_one_datagram_per_anchor():
    import json
    import socket

    ring = AuditKeyRing([AuditKey("k1", b"k" * 32)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.settimeout(5)
        sink = SyslogAnchorSink(f"127.0.0.1:{srv.getsockname()[1]}", facility="local3")
        a = make_anchor(ring, 7, "c" * 64, center="c1")
        sink.write(a)
        data = srv.recv(4096).decode()
    prio, _, rest = data.partition(">")
    assert prio == f"<{19 * 8 + 6}"  # local3.info
    assert rest.startswith("starling-audit: anchor ")
    doc = json.loads(rest.removeprefix("starling-audit: anchor "))
    assert check_anchor(ring, Anchor(**doc)) is None
    with pytest.raises(ValueError, match="facility"):
        SyslogAnchorSink("127.0.0.1:514", facility="nope")
    with pytest.raises(ValueError, match="host:port"):
        SyslogAnchorSink("localhost")


def test_old_table_without_key_id_is_upgraded(engine):
    old = sa.MetaData()
    sa.Table("audit_log", old, *[sa.Column(c, sa.Text) for c in
             ("seq", "time_us", "actor", "kind", "subject", "detail", "prev_hash", "hash")])
    old.create_all(engine)
    log = AuditLog(engine)
    assert upgrade_audit_table(engine, log.table) is True
    assert upgrade_audit_table(engine, log.table) is False
    log.append("a", "k")
    assert [r.key_id for r in log.iter_records()] == [""]


# -- the center's trail: anchoring on a timer and on shutdown ------------------------


def _trail(tmp_path, interval):
    import center._store as store_mod
    from center._audit import AuditTrail

    sync = store_mod.Store(f"sqlite:///{tmp_path / 'center.db'}")
    sync.create_all()
    ring = AuditKeyRing.load_or_create(tmp_path / "audit.key")
    trail = AuditTrail(store_mod.AsyncStore(sync), ring, anchor_file=tmp_path / "anchors.jsonl",
                       anchor_interval=interval, center_id="c1")
    return trail, sync


async def test_trail_anchors_when_the_head_moves_and_on_shutdown(tmp_path):
    import trio

    trail, sync = _trail(tmp_path, interval=0.05)
    path = tmp_path / "anchors.jsonl"

    def anchored():
        return [a.seq for a in trail.anchors.read(trail.log.keys)[0]]

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trail.run, 0.01)
        trail.record("admin", "account.create", "k1", {"admin": False})
        trail.record("admin", "job.submit", "j1", {"hosts": 3})
        with trio.fail_after(10):
            while anchored() != [2]:
                await trio.sleep(0.02)
        await trio.sleep(0.2)
        assert anchored() == [2]  # an unmoved head is not anchored again
        trail.record("admin", "job.cancel", "j1")
        await trail.wait_flushed()
        nursery.cancel_scope.cancel()  # shutdown: the last head is anchored at once
    assert anchored()[-1] == 3
    assert path.stat().st_mode & 0o777 == 0o600
    assert trail.verify_sync() == []
    report = trail.report_sync()
    assert report["ok"] and report["head"]["seq"] == 3 and report["anchor"]["seq"] == 3
    assert report["keys"] == [trail.log.keys.current.id]
    sync.engine.dispose()


async def test_trail_never_anchors_a_cut_or_rewritten_head(tmp_path, caplog):
    trail, sync = _trail(tmp_path, interval=0)
    for i in range(4):
        trail.record("admin", "job.submit", f"j{i}")
    await trail.flush()
    assert await trail.anchor() is True
    assert await trail.anchor() is False  # nothing new
    with sync.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq >= 3"))
    assert await trail.anchor() is False
    assert "was cut or rewritten" in caplog.text
    # A fresh trail (a restarted center) reads the last anchor back from the file.
    trail2, _ = _trail(tmp_path, interval=0)
    assert await trail2.anchor() is False
    problems = trail2.verify_sync()
    assert [(p.seq, p.kind) for p in problems] == [(3, "truncated")]
    sync.engine.dispose()


def test_reads_are_not_audited_writes_are():
    """The route table decides; the live test checks the rows themselves."""
    from center._authz import ROUTES

    # Non-GET routes that are reads, or whose effect is audited by the job that uses them.
    reads = {
        "files_missing": "asks which chunk hashes the center lacks",
        "targets": "a dry run: the hosts a request would select",
        "files_put": "a content-addressed chunk; the push job that uses it is audited",
    }
    # GET routes that are decisions: opening a console session with a one-time link is a login.
    logins = {"console_link"}
    assert ROUTES and not [r.path for r in ROUTES if r.method == "GET" and r.audit and r.handler not in logins]
    assert not [f"{r.method} {r.path}" for r in ROUTES if r.method != "GET" and not r.audit and r.handler not in reads]


async def test_trail_retries_an_anchor_no_sink_kept(tmp_path, caplog):
    trail, sync = _trail(tmp_path, interval=0)
    trail.record("admin", "job.submit", "j1")
    await trail.flush()
    trail.anchors.path = tmp_path / "no-such-dir" / "anchors.jsonl"  # the write fails
    assert await trail.anchor() is False
    assert "cannot write anchor" in caplog.text
    trail.anchors.path = tmp_path / "anchors.jsonl"
    assert await trail.anchor() is True  # the same head, kept at the next chance
    sync.engine.dispose()


def test_cli_offline_verify_and_rotate_answer_codes_not_tracebacks(tmp_path, capsys):
    from center.cli import main

    conf = tmp_path / "center.toml"
    conf.write_text(f'[center]\nstate_dir = "{tmp_path / "c"}"\n')
    assert main(["audit", "verify", "-c", str(tmp_path / "missing.toml")]) == 2
    assert "C030 cannot read config" in capsys.readouterr().err
    assert main(["audit", "rotate-key", "-c", str(conf)]) == 2
    assert "C030 no audit key ring" in capsys.readouterr().err
    (tmp_path / "c").mkdir()
    ring = AuditKeyRing.load_or_create(tmp_path / "c" / "audit.key")
    assert main(["audit", "verify", "-c", str(conf)]) == 2
    assert "C030 no database" in capsys.readouterr().err
    (tmp_path / "c" / "center.db").touch()
    assert main(["audit", "verify", "-c", str(conf)]) == 2
    assert "C016 cannot read the audit log" in capsys.readouterr().err
    # A real log, then a rotation: old records keep verifying offline, new ones use the new key.
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'c' / 'center.db'}")
    from center._store import audit_log

    AuditLog(eng, audit_log, key=ring).create()
    AuditLog(eng, audit_log, key=ring).append("admin", "job.submit", "j1")
    assert main(["audit", "rotate-key", "-c", str(conf)]) == 0
    rotated = AuditKeyRing.load(tmp_path / "c" / "audit.key")
    AuditLog(eng, audit_log, key=rotated).append("admin", "job.submit", "j2")
    eng.dispose()
    capsys.readouterr()
    assert main(["audit", "verify", "-c", str(conf), "--json"]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["head"]["seq"] == 2 and doc["keys"] == [k.id for k in rotated]


async def test_trail_anchors_on_shutdown_even_between_intervals(tmp_path):
    import trio

    trail, sync = _trail(tmp_path, interval=3600)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trail.run, 0.01)
        await trio.sleep(0.05)
        trail.record("admin", "proxy.revoke", "p1")
        nursery.cancel_scope.cancel()  # before the record is even flushed
    anchors, _ = trail.anchors.read(trail.log.keys)
    assert [a.seq for a in anchors] == [1] and trail.log.head() == (1, anchors[0].hash)
    sync.engine.dispose()
