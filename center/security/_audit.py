"""The append-only, hash-chained audit log.

Each record commits to the one before it::

    hash(n) = H("starling-audit-v1", seq, time, actor, kind, subject, detail, hash(n-1))
    hash(0) = GENESIS ("0" * 64)

``H`` is SHA-256, or HMAC-SHA256 under the center's audit key when one is
configured. Editing a record breaks its own hash; deleting one leaves a gap in
``seq``; moving or inserting one breaks the link of the record after it. Two
things a plain chain cannot show, and how to close them:

* someone with write access who *recomputes* every hash after their edit: use an
  audit key (HMAC), kept outside the database;
* deleting the newest records: keep the head (:meth:`AuditLog.head`) somewhere
  else from time to time (a log line, another system) and pass it as ``anchor``.

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

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditLog",
    "AuditProblem",
    "AuditRecord",
    "audit_table",
    "canonical_detail",
    "chain_hash",
    "verify_chain",
]

GENESIS = "0" * 64
_DOMAIN = "starling-audit-v1"
_MAX_ACTOR = 255
_MAX_KIND = 64
_MAX_SUBJECT = 512
_RETRIES = 20

ProblemKind = Literal["edited", "deleted", "reordered", "inserted", "anchor"]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit record as stored. ``detail`` is canonical JSON text."""

    seq: int
    time: float
    actor: str
    kind: str
    subject: str
    detail: str
    prev_hash: str
    hash: str

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
    """The hash of ``record`` chained onto ``prev`` (hex).

    :param prev: the previous record's hash (``GENESIS`` for the first).
    :param record: an :class:`AuditRecord` or a mapping with the same fields; its
        own ``prev_hash``/``hash`` are ignored.
    :param key: the audit key; HMAC-SHA256 when given, SHA-256 otherwise.
    """

    def get(name: str) -> Any:
        return record[name] if isinstance(record, Mapping) else getattr(record, name)

    payload = json.dumps(
        [
            _DOMAIN,
            int(get("seq")),
            _time_us(float(get("time"))),
            get("actor"),
            get("kind"),
            get("subject"),
            get("detail"),
            prev,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    if key is not None:
        return hmac.new(key, payload, hashlib.sha256).hexdigest()
    return hashlib.sha256(payload).hexdigest()


def verify_chain(
    records: Iterable[AuditRecord],
    *,
    key: bytes | None = None,
    anchor: tuple[int, str] | None = None,
    first_seq: int = 1,
    first_prev: str = GENESIS,
) -> list[AuditProblem]:
    """Walk the records in order and list every break in the chain.

    :param records: records in the order they are stored (by ``seq``).
    :param key: the audit key the log was written with, if any.
    :param anchor: a ``(seq, hash)`` head recorded elsewhere earlier; the chain must
        still contain it unchanged (this catches a truncated tail).
    :param first_seq: where ``records`` start (to verify a slice).
    :param first_prev: the hash the first record must link to.
    :returns: problems in chain order; empty when the log is intact.
    """
    problems: list[AuditProblem] = []
    expected_seq = first_seq
    prev_hash = first_prev
    anchor_seen = False
    last_seq = first_seq - 1
    for r in records:
        if chain_hash(r.prev_hash, r, key) != r.hash:
            problems.append(
                AuditProblem(
                    r.seq, "edited", "the record does not match its hash (edited or forged)"
                )
            )
        if r.seq < expected_seq:
            problems.append(
                AuditProblem(r.seq, "reordered", f"record {r.seq} appears after record {last_seq}")
            )
        elif r.seq > expected_seq:
            missing = (
                f"record {expected_seq}"
                if r.seq == expected_seq + 1
                else f"records {expected_seq}..{r.seq - 1}"
            )
            problems.append(AuditProblem(expected_seq, "deleted", f"{missing} missing"))
        elif r.prev_hash != prev_hash:
            what = "the start of the log" if r.seq == first_seq else f"record {r.seq - 1}"
            problems.append(
                AuditProblem(
                    r.seq,
                    "inserted",
                    f"record {r.seq} does not link to {what}: a record was inserted or replaced",
                )
            )
        if anchor is not None and r.seq == anchor[0]:
            anchor_seen = True
            if r.hash != anchor[1]:
                problems.append(AuditProblem(r.seq, "anchor", "the anchored record was rewritten"))
        # Resynchronise on what is stored, so one change is reported once, not cascaded.
        prev_hash = r.hash
        expected_seq = max(expected_seq, r.seq + 1)
        last_seq = r.seq
    if anchor is not None and not anchor_seen:
        problems.append(
            AuditProblem(
                anchor[0],
                "deleted",
                f"the anchored record {anchor[0]} is gone (log ends at {last_seq})",
            )
        )
    return problems


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
        sa.Index(f"ix_{name}_kind_time", "kind", "time_us"),
        sa.Index(f"ix_{name}_actor_time", "actor", "time_us"),
    )


class AuditLog:
    """The audit log over an SQLAlchemy engine (synchronous: call it from a worker thread).

    :param engine: the center's database engine.
    :param table: the table from :func:`audit_table`; a private one is made if absent.
    :param key: the audit key (HMAC); keep it outside the database.
    :param clock: the time source for records appended without a time.
    """

    def __init__(
        self,
        engine: sa.Engine,
        table: sa.Table | None = None,
        *,
        key: bytes | None = None,
        clock: Callable[[], float] = _time.time,
    ) -> None:
        self.engine = engine
        self.table = table if table is not None else audit_table(sa.MetaData())
        self._key = key
        self._clock = clock

    def create(self) -> None:
        """Create the table if it does not exist."""
        self.table.create(self.engine, checkfirst=True)

    def _row_to_record(self, row: Any) -> AuditRecord:
        return AuditRecord(
            seq=int(row.seq),
            time=int(row.time_us) / 1_000_000,
            actor=row.actor,
            kind=row.kind,
            subject=row.subject,
            detail=row.detail,
            prev_hash=row.prev_hash,
            hash=row.hash,
        )

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
                )
                prev = chain_hash(prev, base, self._key)
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
                    }
                    for r in records
                ],
            )
        return records

    def iter_records(self, start: int = 1, *, batch: int = 1000) -> Iterator[AuditRecord]:
        """Every record from ``start`` on, in ``seq`` order, read ``batch`` at a time."""
        t = self.table
        after = start - 1
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(t).where(t.c.seq > after).order_by(t.c.seq).limit(batch)
                ).all()
            if not rows:
                return
            for row in rows:
                yield self._row_to_record(row)
            after = int(rows[-1].seq)

    def verify(self, anchor: tuple[int, str] | None = None) -> list[AuditProblem]:
        """:func:`verify_chain` over the whole stored log."""
        return verify_chain(self.iter_records(), key=self._key, anchor=anchor)
