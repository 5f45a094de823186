"""The append-only audit log: hash-chained, MAC-ed with a key the database does not hold.

Each record commits to the one before it::

    mac(n) = HMAC-SHA256(key[key_id(n)],
                         "starling-audit-v2", key_id, seq, time, actor, kind, subject, detail, mac(n-1))
    mac(0) = GENESIS ("0" * 64)

The key lives in a file next to the center (:mod:`._auditkeys`), never in the
database, and each record names the key that MAC-ed it, so a key rotation keeps
old records verifiable. A log written without a key (``key_id == ""``) falls back
to plain SHA-256 over the v1 payload (no key id), as before keys existed.

What :func:`verify_chain` reports, one :class:`AuditProblem` each:

``edited``
    one record does not match its MAC: its content changed after it was written.
``recomputed``
    a run of records fails the MAC yet links together, or a stored hash differs
    from an anchor: someone rewrote the chain and re-hashed it (without the key).
``deleted``
    a gap in ``seq``.
``truncated``
    the log ends before the newest anchored record: its tail was cut off.
``inserted`` / ``reordered``
    a record does not link to the one before it, or ``seq`` goes backwards.
``unkeyed`` / ``unknown-key``
    records without a MAC in a keyed log, or MAC-ed with a key the ring lacks.
``anchor``
    an anchor whose own MAC is wrong (the anchor file was edited).

Anchors (:class:`Anchor`) are heads ``(seq, mac)`` written from time to time
outside the database (:mod:`._anchors`); they catch what a chain alone cannot: a
cut-off tail, and a rewrite by someone who holds the key.

Records live in any SQLAlchemy database through :func:`audit_table`; ``seq`` is
the primary key, so two centers appending at once cannot fork the chain: one
insert fails and is retried on the new head.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time as _time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from ._auditkeys import AuditKey, AuditKeyRing

__all__ = [
    "GENESIS",
    "Anchor",
    "AuditEntry",
    "AuditLog",
    "AuditProblem",
    "AuditRecord",
    "audit_table",
    "canonical_detail",
    "chain_hash",
    "upgrade_audit_table",
    "verify_chain",
]

GENESIS = "0" * 64
_DOMAIN = "starling-audit-v1"
_DOMAIN_KEYED = "starling-audit-v2"
_MAX_ACTOR = 255
_MAX_KIND = 64
_MAX_SUBJECT = 512
_MAX_KEY_ID = 32
_RETRIES = 20

ProblemKind = Literal[
    "edited", "recomputed", "deleted", "truncated", "reordered", "inserted", "unkeyed", "unknown-key", "anchor"
]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit record as stored. ``detail`` is canonical JSON text; ``key_id``
    names the audit key that MAC-ed it ("" = unkeyed SHA-256)."""

    seq: int
    time: float
    actor: str
    kind: str
    subject: str
    detail: str
    prev_hash: str
    hash: str
    key_id: str = ""

    def detail_value(self) -> Any:
        """``detail`` parsed back from JSON."""
        return json.loads(self.detail)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What a caller appends; the log adds seq, time (if absent) and the hashes."""

    actor: str
    kind: str
    subject: str = ""
    detail: Any = None
    time: float | None = None


@dataclass(frozen=True, slots=True)
class AuditProblem:
    """One thing :func:`verify_chain` found wrong, at record ``seq``."""

    seq: int
    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind}: {self.message}"


@dataclass(frozen=True, slots=True)
class Anchor:
    """The head of the log ``(seq, hash)`` at ``time``, as written outside the database.

    ``mac`` is HMAC-SHA256 under the audit key ``key_id`` over the other fields
    (see :mod:`._anchors`), so the anchor file cannot be edited to match a cut log.
    """

    seq: int
    hash: str
    time: float = 0.0
    center: str = ""
    key_id: str = ""
    mac: str = ""


def _time_us(t: float) -> int:
    # Whole microseconds: hashes must not depend on how a database rounds floats.
    return round(t * 1_000_000)


def canonical_detail(detail: Any) -> str:
    """The one JSON text of ``detail`` (sorted keys, no spaces); ``None`` is ``{}``."""
    return json.dumps(
        {} if detail is None else detail,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )


def chain_hash(prev: str, record: AuditRecord | Mapping[str, Any], key: bytes | None = None) -> str:
    """The hash (or MAC) of ``record`` chained onto ``prev`` (hex).

    :param prev: the previous record's hash (``GENESIS`` for the first).
    :param record: an :class:`AuditRecord` or a mapping with the same fields; its
        own ``prev_hash``/``hash`` are ignored. A non-empty ``key_id`` is part of
        what is MAC-ed (payload v2), so a record cannot be moved to another key.
    :param key: the audit key's secret; HMAC-SHA256 when given, SHA-256 otherwise.
    """

    if isinstance(record, AuditRecord):
        r = record
    else:
        r = AuditRecord(
            int(record["seq"]), float(record["time"]), record["actor"], record["kind"], record["subject"],
            record["detail"], "", "", record.get("key_id", "") or "",
        )
    payload = _payload(prev, r)
    if key is not None:
        return hmac.digest(key, payload, "sha256").hex()
    return hashlib.sha256(payload).hexdigest()


def _payload(prev: str, r: AuditRecord) -> bytes:
    # The hot path of verification (100k records): one C-encoded JSON list per record.
    if r.key_id:
        fields = [_DOMAIN_KEYED, r.key_id, r.seq, _time_us(r.time), r.actor, r.kind, r.subject, r.detail, prev]
    else:
        fields = [_DOMAIN, r.seq, _time_us(r.time), r.actor, r.kind, r.subject, r.detail, prev]
    return _dumps(fields).encode()


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _ring(key: bytes | AuditKey | AuditKeyRing | None) -> AuditKeyRing | None:
    if key is None or isinstance(key, AuditKeyRing):
        return key
    if isinstance(key, AuditKey):
        return AuditKeyRing([key])
    return AuditKeyRing([AuditKey.from_bytes(key)])


class _Tally:
    """Consecutive records sharing one problem, reported once as a range."""

    def __init__(self, kind: ProblemKind, message: Callable[[int, int, str], str]) -> None:
        self.kind: ProblemKind = kind
        self.message = message
        self.first = self.last = 0
        self.tag = ""

    def add(self, seq: int, tag: str, out: list[AuditProblem]) -> None:
        if self.first and (seq != self.last + 1 or tag != self.tag):
            self.close(out)
        if not self.first:
            self.first, self.tag = seq, tag
        self.last = seq

    def close(self, out: list[AuditProblem]) -> None:
        if self.first:
            out.append(AuditProblem(self.first, self.kind, self.message(self.first, self.last, self.tag)))
        self.first = self.last = 0


def _span(first: int, last: int) -> str:
    return f"record {first}" if first == last else f"records {first}..{last}"


def verify_chain(
    records: Iterable[AuditRecord],
    *,
    key: bytes | AuditKey | AuditKeyRing | None = None,
    anchor: tuple[int, str] | None = None,
    anchors: Iterable[Anchor | tuple[int, str]] = (),
    first_seq: int = 1,
    first_prev: str = GENESIS,
) -> list[AuditProblem]:
    """Walk the records in order and list every break in the chain.

    :param records: records in the order they are stored (by ``seq``).
    :param key: the audit key ring (or one key's secret) the log was written with.
    :param anchor: one ``(seq, hash)`` head recorded elsewhere earlier.
    :param anchors: more such heads (already checked, see :mod:`._anchors`); the
        chain must still contain each unchanged, and must reach the newest.
    :param first_seq: where ``records`` start (to verify a slice).
    :param first_prev: the hash the first record must link to.
    :returns: problems in chain order; empty when the log is intact.
    """
    ring = _ring(key)
    anchored: dict[int, list[Anchor]] = {}
    for a in [*([anchor] if anchor is not None else []), *anchors]:
        a = a if isinstance(a, Anchor) else Anchor(int(a[0]), str(a[1]))
        anchored.setdefault(a.seq, []).append(a)
    problems: list[AuditProblem] = []
    unkeyed = _Tally(
        "unkeyed",
        lambda f, la, _t: f"{_span(f, la)} carry no MAC in a keyed log: anyone with database access could have written them",
    )
    unknown = _Tally(
        "unknown-key",
        lambda f, la, t: f"{_span(f, la)} are MAC-ed with key {t!r}, which the audit key ring lacks",
    )
    run: list[AuditRecord] = []  # consecutive MAC failures that link to each other
    run_rewritten = False  # a record in the run is the plain SHA-256 or differs from its anchor

    def close_run() -> None:
        nonlocal run_rewritten
        if run:
            first, last = run[0], run[-1]
            if len(run) > 1 or run_rewritten:
                problems.append(AuditProblem(
                    first.seq, "recomputed",
                    f"{_span(first.seq, last.seq)} fail their MAC yet link together: "
                    "the chain was rewritten and re-hashed without the audit key",
                ))
            else:
                problems.append(AuditProblem(
                    first.seq, "edited", "the record does not match its MAC: it was changed after it was written"
                ))
        run.clear()
        run_rewritten = False

    expected_seq = first_seq
    prev_hash = first_prev
    last_seq = first_seq - 1
    for r in records:
        # -- position: gaps, order and links --------------------------------------
        if r.seq < expected_seq:
            problems.append(AuditProblem(r.seq, "reordered", f"record {r.seq} appears after record {last_seq}"))
        elif r.seq > expected_seq:
            missing = f"record {expected_seq}" if r.seq == expected_seq + 1 else f"records {expected_seq}..{r.seq - 1}"
            problems.append(AuditProblem(expected_seq, "deleted", f"{missing} missing"))
        elif r.prev_hash != prev_hash:
            what = "the start of the log" if r.seq == first_seq else f"record {r.seq - 1}"
            problems.append(AuditProblem(
                r.seq, "inserted", f"record {r.seq} does not link to {what}: a record was inserted or replaced"
            ))
        # -- content: the MAC ------------------------------------------------------
        secret: bytes | None = None
        checkable = True
        if r.key_id:
            secret = ring.get(r.key_id) if ring is not None else None
            if secret is None:
                unknown.add(r.seq, r.key_id, problems)
                checkable = False
        elif ring is not None:
            unkeyed.add(r.seq, "", problems)
        mismatch = any(a.hash != r.hash for a in anchored.get(r.seq, ()))
        if checkable and chain_hash(r.prev_hash, r, secret) != r.hash:
            # Without a key anyone can re-hash, so a run says nothing more than its edits.
            linked = secret is not None and bool(run) and run[-1].seq + 1 == r.seq and run[-1].hash == r.prev_hash
            if not linked:
                close_run()
            run.append(r)
            if mismatch or (secret is not None and chain_hash(r.prev_hash, r, None) == r.hash):
                run_rewritten = True
        else:
            close_run()
            if mismatch:
                # The MAC holds but the hash moved: rewritten by someone holding the key.
                problems.append(AuditProblem(
                    r.seq, "recomputed", f"record {r.seq} differs from the head anchored at {_when(anchored[r.seq])}"
                ))
        # Resynchronise on what is stored, so one change is reported once, not cascaded.
        prev_hash = r.hash
        expected_seq = max(expected_seq, r.seq + 1)
        last_seq = max(last_seq, r.seq)
    close_run()
    unkeyed.close(problems)
    unknown.close(problems)
    if anchored:
        newest = max(anchored)
        if newest > last_seq:
            problems.append(AuditProblem(
                last_seq + 1, "truncated",
                f"the log ends at record {last_seq}, but record {newest} was anchored at "
                f"{_when(anchored[newest])}: its tail was cut off",
            ))
    problems.sort(key=lambda p: p.seq)
    return problems


def _when(anchors: Sequence[Anchor]) -> str:
    t = max(a.time for a in anchors)
    if not t:
        return "an earlier time"
    return _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(t))


def audit_table(metadata: sa.MetaData, name: str = "audit_log") -> sa.Table:
    """The audit log's table, added to ``metadata``."""
    return sa.Table(
        name,
        metadata,
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(_MAX_ACTOR), nullable=False),
        sa.Column("kind", sa.String(_MAX_KIND), nullable=False),
        sa.Column("subject", sa.String(_MAX_SUBJECT), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(_MAX_KEY_ID), nullable=False, server_default=""),
        sa.Index(f"ix_{name}_kind_time", "kind", "time_us"),
        sa.Index(f"ix_{name}_actor_time", "actor", "time_us"),
    )


def upgrade_audit_table(engine: sa.Engine, table: sa.Table) -> bool:
    """Add the ``key_id`` column to an audit table made before audit keys existed.

    :returns: whether the table was changed.
    """
    names = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
    if "key_id" in names:
        return False
    quoted = engine.dialect.identifier_preparer.quote(table.name)
    with engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE {quoted} ADD COLUMN key_id VARCHAR({_MAX_KEY_ID}) NOT NULL DEFAULT ''"))
    return True


class AuditLog:
    """The audit log over an SQLAlchemy engine (synchronous: call it from a worker thread).

    :param engine: the center's database engine.
    :param table: the table from :func:`audit_table`; a private one is made if absent.
    :param key: the audit key ring (or one key, or a bare secret); keep it outside
        the database. Its current key MACs every new record.
    :param clock: the time source for records appended without a time.
    """

    def __init__(
        self,
        engine: sa.Engine,
        table: sa.Table | None = None,
        *,
        key: bytes | AuditKey | AuditKeyRing | None = None,
        clock: Callable[[], float] = _time.time,
    ) -> None:
        self.engine = engine
        self.table = table if table is not None else audit_table(sa.MetaData())
        self.keys = _ring(key)
        self._clock = clock

    def create(self) -> None:
        """Create the table if it does not exist (and upgrade an old one)."""
        self.table.create(self.engine, checkfirst=True)
        upgrade_audit_table(self.engine, self.table)

    def _columns(self) -> list[Any]:
        t = self.table
        return [t.c.seq, t.c.time_us, t.c.actor, t.c.kind, t.c.subject, t.c.detail, t.c.prev_hash, t.c.hash, t.c.key_id]

    @staticmethod
    def _row_to_record(row: Any) -> AuditRecord:
        seq, time_us, actor, kind, subject, detail, prev_hash, hash_, key_id = row
        return AuditRecord(int(seq), int(time_us) / 1_000_000, actor, kind, subject, detail, prev_hash, hash_, key_id or "")

    def head(self) -> tuple[int, str] | None:
        """``(seq, hash)`` of the newest record, to anchor elsewhere; ``None`` if empty."""
        t = self.table
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.c.seq, t.c.hash).order_by(t.c.seq.desc()).limit(1)
            ).first()
        return None if row is None else (int(row.seq), row.hash)

    def append(
        self,
        actor: str,
        kind: str,
        subject: str = "",
        detail: Any = None,
        *,
        time: float | None = None,
    ) -> AuditRecord:
        """Append one record and return it as stored."""
        return self.append_many([AuditEntry(actor, kind, subject, detail, time)])[0]

    def append_many(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Append several records in one transaction (one dispatch of 10,000 tasks is
        one call, not 10,000)."""
        if not entries:
            return []
        last_exc: Exception | None = None
        for _attempt in range(_RETRIES):
            try:
                return self._append_once(entries)
            except (sa.exc.IntegrityError, sa.exc.OperationalError) as exc:
                # Another writer took our seq (or held the SQLite write lock): retry on the new head.
                last_exc = exc
                _time.sleep(0.005)
        assert last_exc is not None
        raise last_exc

    def _append_once(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        t = self.table
        now = self._clock()
        key = self.keys.current if self.keys is not None else None
        key_id, secret = (key.id, key.secret) if key is not None else ("", None)
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(t.c.seq, t.c.hash).order_by(t.c.seq.desc()).limit(1)
            ).first()
            seq, prev = (0, GENESIS) if row is None else (int(row.seq), row.hash)
            records = []
            for e in entries:
                seq += 1
                base = AuditRecord(
                    seq=seq,
                    time=_time_us(now if e.time is None else e.time) / 1_000_000,
                    actor=str(e.actor)[:_MAX_ACTOR],
                    kind=str(e.kind)[:_MAX_KIND],
                    subject=str(e.subject)[:_MAX_SUBJECT],
                    detail=canonical_detail(e.detail),
                    prev_hash=prev,
                    hash="",
                    key_id=key_id,
                )
                prev = chain_hash(prev, base, secret)
                records.append(
                    AuditRecord(
                        base.seq,
                        base.time,
                        base.actor,
                        base.kind,
                        base.subject,
                        base.detail,
                        base.prev_hash,
                        prev,
                        key_id,
                    )
                )
            conn.execute(
                t.insert(),
                [
                    {
                        "seq": r.seq,
                        "time_us": _time_us(r.time),
                        "actor": r.actor,
                        "kind": r.kind,
                        "subject": r.subject,
                        "detail": r.detail,
                        "prev_hash": r.prev_hash,
                        "hash": r.hash,
                        "key_id": r.key_id,
                    }
                    for r in records
                ],
            )
        return records

    def iter_records(self, start: int = 1, *, batch: int = 5000, subject: str | None = None) -> Iterator[AuditRecord]:
        """Every record from ``start`` on (only those about ``subject`` when given), in
        ``seq`` order, read ``batch`` at a time."""
        t = self.table
        after = start - 1
        while True:
            q = sa.select(*self._columns()).where(t.c.seq > after)
            if subject is not None:
                q = q.where(t.c.subject == subject)
            with self.engine.connect() as conn:
                rows = conn.execute(q.order_by(t.c.seq).limit(batch)).all()
            if not rows:
                return
            for row in rows:
                yield self._row_to_record(row)
            after = int(rows[-1][0])

    def verify(
        self, anchor: tuple[int, str] | None = None, *, anchors: Iterable[Anchor | tuple[int, str]] = ()
    ) -> list[AuditProblem]:
        """:func:`verify_chain` over the whole stored log, against ``anchors``."""
        return verify_chain(self.iter_records(), key=self.keys, anchor=anchor, anchors=anchors)
