"""The center's storage: one interface over SQLite (embedded), PostgreSQL and
MySQL/MariaDB, through SQLAlchemy Core.

Every method is synchronous and runs in a worker thread (see
:class:`AsyncStore`), because the database drivers are blocking and the center
runs on trio. Writes are batched: a job of N hosts is one INSERT of N rows, and
a batch of results or events is one ``executemany`` per target state.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import msgspec
import sqlalchemy as sa
import trio
from sqlalchemy import bindparam
from sqlalchemy.dialects import mysql

from transports import FINAL_STATES, Result, TaskEvent, decode_value

from ._chunkindex import chunk_table
from ._rows import (
    CmdbRow,
    DueTask,
    HostRow,
    JobRow,
    NewTask,
    ProxyRow,
    TaskRow,
    TaskState,
    TaskTarget,
)
from .security import audit_table

T = TypeVar("T")

metadata = sa.MetaData()

#: Columns that can hold more than 64 KiB (a task's 1 MiB output, a job's
#: params, an action catalogue): MySQL/MariaDB's TEXT and BLOB stop at 64 KiB.
BigText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
BigBinary = sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("sn", sa.String(191), nullable=False, unique=True),
    sa.Column("hostname", sa.String(255), nullable=False, default=""),
    sa.Column("ip", sa.String(64), nullable=False, default=""),
    sa.Column("os", sa.String(191), nullable=False, default=""),
    sa.Column("idc", sa.String(64), nullable=False, default="default", index=True),
    sa.Column("tags", sa.Text, nullable=False, default="[]"),
    sa.Column("version", sa.String(32), nullable=False, default=""),
    sa.Column("proxy_id", sa.String(64)),
    sa.Column("carrier", sa.String(16), nullable=False, default=""),
    sa.Column("online", sa.Boolean, nullable=False, default=False, index=True),
    sa.Column("code", sa.String(8), nullable=False, default=""),
    sa.Column("last_seen", sa.Double, nullable=False, default=0.0),
    sa.Column("health", sa.Text, nullable=False, default="{}"),
    sa.Column("registered", sa.Double, nullable=False, default=0.0),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
    #: The agent's Ed25519 public key (base64), sent at enrollment.
    sa.Column("public_key", sa.String(64), nullable=False, default=""),
    #: Digest of the agent's action catalogue (see :mod:`transports._declarations`).
    sa.Column("catalogue", sa.String(64), nullable=False, default=""),
    # Listings page in this order (keyset cursors: GET /v1/hosts?cursor=).
    sa.Index("agents_hostname_id", "hostname", "id"),
)

#: Action catalogues reported by agents, content-addressed: most fleets have a handful.
catalogues = sa.Table(
    "catalogues",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("doc", BigBinary, nullable=False),
    sa.Column("created", sa.Double, nullable=False, default=0.0),
)

proxies = sa.Table(
    "proxies",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("idc", sa.String(64), nullable=False, default="default"),
    sa.Column("urls", sa.Text, nullable=False, default="[]"),
    sa.Column("connections", sa.Integer, nullable=False, default=0),
    sa.Column("capacity", sa.Integer, nullable=False, default=0),
    sa.Column("load1", sa.Double, nullable=False, default=0.0),
    sa.Column("cpus", sa.Integer, nullable=False, default=1),
    sa.Column("rss", sa.BigInteger, nullable=False, default=0),
    sa.Column("online", sa.Boolean, nullable=False, default=False),
    sa.Column("last_seen", sa.Double, nullable=False, default=0.0),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("account", sa.String(64), nullable=False, default=""),
    sa.Column("action", sa.String(128), nullable=False),
    sa.Column("params", BigText, nullable=False, default="{}"),
    sa.Column("params_raw", BigBinary, nullable=False),
    sa.Column("targets", sa.Text, nullable=False, default="{}"),
    sa.Column("created", sa.Double, nullable=False),
    sa.Column("timeout", sa.Double, nullable=False),
    sa.Column("deadline", sa.Double, nullable=False),
    sa.Column("total", sa.Integer, nullable=False, default=0),
    sa.Column("state", sa.String(20), nullable=False, default="running"),
    sa.Column("offline", sa.String(8), nullable=False, default="fail"),
    sa.Column("stream", sa.Boolean, nullable=False, default=False),
    sa.Column("finished", sa.Double),
    # Newest first, paged by (created, id) (GET /v1/jobs?cursor=).
    sa.Index("jobs_created_id", "created", "id"),
)

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("job_id", sa.String(40), nullable=False),
    sa.Column("agent_id", sa.String(40), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, default="created"),
    sa.Column("code", sa.String(8), nullable=False, default=""),
    sa.Column("message", BigText, nullable=False, default=""),
    sa.Column("exit_code", sa.Integer),
    sa.Column("stdout", BigText, nullable=False, default=""),
    sa.Column("stderr", BigText, nullable=False, default=""),
    sa.Column("data", BigText),
    sa.Column("truncated", sa.Boolean, nullable=False, default=False),
    sa.Column("proxy_id", sa.String(64)),
    sa.Column("deadline", sa.Double, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("created", sa.Double, nullable=False),
    sa.Column("dispatched", sa.Double),
    sa.Column("delivered", sa.Double),
    sa.Column("received", sa.Double),
    sa.Column("running", sa.Double),
    sa.Column("finished", sa.Double),
    sa.Index("tasks_agent_state", "agent_id", "state"),
    sa.Index("tasks_state_deadline", "state", "deadline"),
    # A job's counts by state read the index alone, and "is anything left?" is one probe.
    sa.Index("tasks_job_state", "job_id", "state"),
)

def past_key(first: Any, second: Any, key: tuple[Any, Any], *, descending: bool = False) -> Any:
    """Rows after ``key`` in (first, second) order (keyset paging). Written as
    ``first >= k1 AND (first > k1 OR second > k2)`` rather than a row comparison, so that
    MariaDB too reads it as a range of the (first, second) index."""
    k1, k2 = key
    if descending:
        return sa.and_(first <= k1, sa.or_(first < k1, second < k2))
    return sa.and_(first >= k1, sa.or_(first > k1, second > k2))


# Allowed predecessors of each state: a transition only ever moves forward.
_BEFORE: dict[str, list[str]] = {
    "dispatched": ["created"],
    "delivered": ["created", "dispatched"],
    "received": ["created", "dispatched", "delivered"],
    "running": ["created", "dispatched", "delivered", "received"],
}
NON_FINAL = ["created", "dispatched", "delivered", "received", "running"]


def _state_in(states: Sequence[str]) -> Any:
    """``tasks.state IN (...)`` as literal SQL over our own constant state names,
    so it can be used inside ``executemany`` (bound IN lists cannot)."""
    assert all(s.isidentifier() for s in states)
    return sa.text("tasks.state IN (" + ", ".join(f"'{s}'" for s in states) + ")")


@dataclass(frozen=True, slots=True)
class Enrollee:
    """A host registering: its identity (validated by the API) and what its agent reports."""

    sn: str
    hostname: str = ""
    ip: str = ""
    os: str = ""
    idc: str = "default"
    tags: tuple[str, ...] = ()
    version: str = ""
    public_key: str = ""
    catalogue: str = ""

    COLUMNS = ("hostname", "ip", "os", "idc", "tags", "version", "public_key", "catalogue")

    @classmethod
    def from_identity(cls, identity: dict[str, Any], version: str, public_key: str = "", catalogue: str = "") -> Enrollee:
        return cls(
            sn=identity["sn"], hostname=identity.get("hostname", ""), ip=identity.get("ip", ""), os=identity.get("os", ""),
            idc=identity.get("idc") or "default", tags=tuple(sorted(identity.get("tags") or [])),
            version=version, public_key=public_key, catalogue=catalogue,
        )

    def values(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname, "ip": self.ip, "os": self.os, "idc": self.idc, "tags": json.dumps(list(self.tags)),
            "version": self.version, "public_key": self.public_key, "catalogue": self.catalogue,
        }


@dataclass(frozen=True, slots=True)
class HostBeat:
    """An agent seen online through a proxy: when, over which carrier, and its
    health summary (JSON text; None when this report carried none)."""

    agent_id: str
    proxy_id: str
    at: float
    carrier: str = ""
    health: str | None = None


def new_id(prefix: str = "") -> str:
    """Time-ordered, unique ids (sortable by creation)."""
    return f"{prefix}{int(time.time() * 1000):x}{uuid.uuid4().hex[:10]}"


class Store:
    """Synchronous store; use through :class:`AsyncStore` from trio code."""

    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs.update(pool_size=8, max_overflow=8, pool_pre_ping=True)
        self.engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            @sa.event.listens_for(self.engine, "connect")
            def _pragmas(conn: Any, _rec: Any) -> None:
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_all(self) -> None:
        metadata.create_all(self.engine)

    def migrate(self) -> str | None:
        """Bring the schema to the newest migration (see ``center._migrate``)."""
        from ._migrate import migrate

        return migrate(self.engine)

    def drop_all(self) -> None:
        metadata.drop_all(self.engine)

    # -- agents ------------------------------------------------------------------

    def register_agent(
        self, identity: dict[str, Any], version: str, public_key: str = "", catalogue: str = ""
    ) -> tuple[str, bool]:
        """Upsert a host by SN; returns ``(agent_id, revoked)``."""
        return self.register_agents([Enrollee.from_identity(identity, version, public_key, catalogue)])[0]

    def register_agents(self, enrollees: Sequence[Enrollee]) -> list[tuple[str, bool]]:
        """Upsert many hosts by SN in ONE transaction (the registrar's group
        commit); returns ``(agent_id, revoked)`` for each, in order. A SN twice
        in one batch is one host (its last identity wins)."""
        by_sn: dict[str, Enrollee] = {e.sn: e for e in enrollees}
        for attempt in range(3):
            try:
                known = self._upsert_enrollees(by_sn)
                break
            except sa.exc.IntegrityError:
                # Another center inserted one of these SNs a moment ago: read again.
                if attempt == 2:
                    raise
        return [known[e.sn] for e in enrollees]

    def _upsert_enrollees(self, by_sn: dict[str, Enrollee]) -> dict[str, tuple[str, bool]]:
        now = time.time()
        known: dict[str, tuple[str, bool]] = {}
        with self.engine.begin() as conn:
            for chunk in _chunks(list(by_sn), 500):
                for row in conn.execute(sa.select(agents.c.sn, agents.c.id, agents.c.revoked).where(agents.c.sn.in_(chunk))):
                    known[row.sn] = (row.id, bool(row.revoked))
            updates = [{"aid": known[sn][0], **{f"v_{k}": v for k, v in e.values().items()}} for sn, e in by_sn.items() if sn in known]
            if updates:
                conn.execute(
                    agents.update().where(agents.c.id == bindparam("aid")).values({k: bindparam(f"v_{k}") for k in Enrollee.COLUMNS}), updates
                )
            fresh = [sn for sn in by_sn if sn not in known]
            for sn in fresh:
                known[sn] = (new_id("h"), False)
            if fresh:
                conn.execute(agents.insert(), [{"id": known[sn][0], "sn": sn, "registered": now, **by_sn[sn].values()} for sn in fresh])
        return known

    def add_catalogue(self, digest: str, doc: bytes) -> None:
        with self.engine.begin() as conn:
            if conn.execute(sa.select(catalogues.c.digest).where(catalogues.c.digest == digest)).first() is None:
                try:
                    conn.execute(catalogues.insert().values(digest=digest, doc=doc, created=time.time()))
                except sa.exc.IntegrityError:
                    pass  # another center stored it a moment ago

    def catalogue_docs(self, digests: Iterable[str]) -> dict[str, bytes]:
        want = [d for d in set(digests) if d]
        if not want:
            return {}
        with self.engine.connect() as conn:
            return {r.digest: bytes(r.doc) for r in conn.execute(sa.select(catalogues).where(catalogues.c.digest.in_(want)))}

    def all_catalogue_digests(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(catalogues.c.digest)).scalars())

    def revoke_agent(self, agent_id: str, revoked: bool = True) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(agents.update().where(agents.c.id == agent_id).values(revoked=revoked)).rowcount == 1

    def revoked_agents(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(agents.c.id).where(agents.c.revoked.is_(True))).scalars())

    def select_agents(
        self,
        *,
        hosts: Sequence[str] = (),
        tags: Sequence[str] = (),
        idc: str = "",
        all_hosts: bool = False,
        online: bool | None = None,
        limit: int = 0,
        after: tuple[str, str] | None = None,
    ) -> list[HostRow]:
        """Agent rows by (hostname, id); ``after``: only those past this key (paging)."""
        q = sa.select(agents).order_by(agents.c.hostname, agents.c.id)
        if after is not None:
            q = q.where(past_key(agents.c.hostname, agents.c.id, after))
        if hosts:
            q = q.where(sa.or_(agents.c.id.in_(list(hosts)), agents.c.hostname.in_(list(hosts)), agents.c.ip.in_(list(hosts)), agents.c.sn.in_(list(hosts))))
        elif not (all_hosts or tags or idc):
            return []
        if idc:
            q = q.where(agents.c.idc == idc)
        if online is not None:
            q = q.where(agents.c.online.is_(online))
        if tags:
            # Narrow in the database (tags are a JSON list of strings), then
            # check exactly below.
            q = q.where(sa.or_(*(agents.c.tags.contains(json.dumps(t), autoescape=True) for t in tags)))
        if limit and not tags:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            rows = [host_row(r) for r in conn.execute(q)]
        if tags:
            want = set(tags)
            rows = [r for r in rows if want & set(r.tags)]
            if limit:
                rows = rows[:limit]
        return rows

    def agent_by_id(self, agent_ids: Iterable[str]) -> dict[str, HostRow]:
        ids = list(agent_ids)
        if not ids:
            return {}
        with self.engine.connect() as conn:
            return {h.id: h for h in map(host_row, conn.execute(sa.select(agents).where(agents.c.id.in_(ids))))}

    def presence_changes(
        self, proxy_id: str, came: Sequence[HostBeat], gone: Sequence[tuple[str, str]], present: Sequence[str] | None = None
    ) -> None:
        """Agents that came online through ``proxy_id``, went (``(agent_id, code)``),
        and, for a full report, every agent it holds (the others it had go offline).
        One transaction; a heartbeat that changes nothing else is not written here
        (see :meth:`presence_snapshot`)."""
        with self.engine.begin() as conn:
            self._write_beats(conn, came, took_over=True)
            if gone:
                # Only the proxy that holds the agent may take it offline: it may
                # already be connected to another one.
                conn.execute(
                    agents.update().where(agents.c.id == bindparam("aid"), agents.c.proxy_id == bindparam("pid")).values(online=False, code=bindparam("code")),
                    [{"aid": a, "pid": proxy_id, "code": code} for a, code in gone],
                )
            if present is not None:
                held = conn.execute(sa.select(agents.c.id).where(agents.c.proxy_id == proxy_id, agents.c.online.is_(True))).scalars()
                left = sorted(set(held) - set(present))
                for chunk in _chunks(left, 500):
                    conn.execute(agents.update().where(agents.c.id.in_(chunk), agents.c.proxy_id == proxy_id).values(online=False, code="E001"))

    def presence_snapshot(self, beats: Sequence[HostBeat]) -> None:
        """The latest heartbeat of many agents, in one statement (per kind of row).
        A beat only lands on the row of the proxy that reported it."""
        with self.engine.begin() as conn:
            self._write_beats(conn, beats, took_over=False)

    @staticmethod
    def _write_beats(conn: sa.Connection, beats: Sequence[HostBeat], *, took_over: bool) -> None:
        where = agents.c.id == bindparam("aid")
        if not took_over:
            # A snapshot lands only on the row of the proxy that reported the beat,
            # and never revives a host its proxy reported gone (a snapshot can be
            # older than the news another center wrote); a host that only looked
            # stale to a sweeper (E005) while it beat here is online again.
            where = sa.and_(where, agents.c.proxy_id == bindparam("pid"), sa.or_(agents.c.online.is_(True), agents.c.code == "E005"))
        common = {"online": True, "proxy_id": bindparam("pid"), "last_seen": bindparam("seen"), "code": "", "carrier": bindparam("carrier")}
        with_health = [{"aid": b.agent_id, "pid": b.proxy_id, "seen": b.at, "carrier": b.carrier, "health": b.health} for b in beats if b.health is not None]
        bare = [{"aid": b.agent_id, "pid": b.proxy_id, "seen": b.at, "carrier": b.carrier} for b in beats if b.health is None]
        if with_health:
            conn.execute(agents.update().where(where).values(**common, health=bindparam("health")), with_health)
        if bare:
            # Heartbeats carry health; a bare "online" must not erase it.
            conn.execute(agents.update().where(where).values(**common), bare)

    def proxy_lost(self, proxy_id: str, code: str = "E001") -> None:
        with self.engine.begin() as conn:
            conn.execute(agents.update().where(agents.c.proxy_id == proxy_id, agents.c.online.is_(True)).values(online=False, code=code))
            conn.execute(proxies.update().where(proxies.c.id == proxy_id).values(online=False))

    def mark_stale_agents(self, before: float) -> int:
        """Agents whose last heartbeat is older than ``before`` go offline (E005)."""
        with self.engine.begin() as conn:
            return conn.execute(agents.update().where(agents.c.online.is_(True), agents.c.last_seen < before).values(online=False, code="E005")).rowcount

    # -- proxies -------------------------------------------------------------------

    def upsert_proxy(self, proxy_id: str, **values: Any) -> None:
        if "urls" in values and not isinstance(values["urls"], str):
            values["urls"] = json.dumps(values["urls"])
        values.setdefault("last_seen", time.time())
        with self.engine.begin() as conn:
            if conn.execute(proxies.update().where(proxies.c.id == proxy_id).values(**values)).rowcount == 0:
                try:
                    conn.execute(proxies.insert().values(id=proxy_id, **values))
                except sa.exc.IntegrityError:
                    pass

    def revoke_proxy(self, proxy_id: str, revoked: bool = True) -> bool:
        """Mark a known proxy revoked (or not); False if no such proxy."""
        with self.engine.begin() as conn:
            values: dict[str, Any] = {"revoked": revoked}
            if revoked:
                values["online"] = False
            return conn.execute(proxies.update().where(proxies.c.id == proxy_id).values(**values)).rowcount == 1

    def revoked_proxies(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(proxies.c.id).where(proxies.c.revoked.is_(True))).scalars())

    def list_proxies(self, idc: str | None = None, online: bool | None = None) -> list[ProxyRow]:
        q = sa.select(proxies).where(proxies.c.revoked.is_(False)).order_by(proxies.c.id)
        if idc is not None:
            q = q.where(proxies.c.idc == idc)
        if online is not None:
            q = q.where(proxies.c.online.is_(online))
        with self.engine.connect() as conn:
            return [ProxyRow(**{**r._mapping, "urls": json.loads(r.urls or "[]")}) for r in conn.execute(q)]

    # -- jobs and tasks --------------------------------------------------------------

    def create_job(self, job: JobRow, task_rows: Sequence[NewTask]) -> None:
        with self.engine.begin() as conn:
            conn.execute(jobs.insert().values(**msgspec.structs.asdict(job)))
            if task_rows:
                conn.execute(tasks.insert(), [msgspec.structs.asdict(t) for t in task_rows])

    def mark(self, task_ids: Sequence[str], state: str, at: float, proxy_id: str | None = None) -> None:
        if not task_ids:
            return
        values: dict[str, Any] = {"state": state, state: at}
        allowed = _BEFORE[state]
        if state == "dispatched":
            # A re-dispatch bumps the time and attempt count of tasks already
            # dispatched or delivered, without moving their state backwards.
            values["state"] = sa.case((tasks.c.state == "created", "dispatched"), else_=tasks.c.state)
            values["attempts"] = tasks.c.attempts + 1
            allowed = ["created", "dispatched", "delivered"]
        if proxy_id is not None:
            values["proxy_id"] = proxy_id
        with self.engine.begin() as conn:
            for chunk in _chunks(list(task_ids), 500):
                conn.execute(tasks.update().where(tasks.c.id.in_(chunk), tasks.c.state.in_(allowed)).values(**values))
                if state == "dispatched":
                    # A fast host may have finished before the ack was handled:
                    # record when it was sent all the same.
                    conn.execute(tasks.update().where(tasks.c.id.in_(chunk), tasks.c.dispatched.is_(None)).values(dispatched=at))

    def apply_events(self, events: Sequence[TaskEvent]) -> None:
        with self.engine.begin() as conn:
            _apply_events(conn, events)

    def store_results(self, results: Sequence[Result]) -> set[str]:
        """Store final results, once each (a repeat is ignored); returns job ids touched."""
        with self.engine.begin() as conn:
            return _store_results(conn, results)

    def store_progress(self, events: Sequence[TaskEvent], results: Sequence[Result]) -> set[str]:
        """Events, then results, of any number of proxy batches in ONE transaction
        (the center's group commit); returns the job ids whose results landed."""
        with self.engine.begin() as conn:
            _apply_events(conn, events)
            return _store_results(conn, results)

    def finalize(self, items: Sequence[tuple[str, str, str, str]]) -> set[str]:
        """Force tasks into a final state: ``(task_id, state, code, message)``.
        Tasks already final are left alone. Returns job ids touched."""
        if not items:
            return set()
        now = time.time()
        rows = [{"tid": t, "st": s, "code": c, "msg": m, "fin": now} for t, s, c, m in items]
        with self.engine.begin() as conn:
            conn.execute(
                tasks.update().where(tasks.c.id == bindparam("tid"), _state_in(NON_FINAL)).values(
                    state=bindparam("st"), code=bindparam("code"), message=bindparam("msg"), finished=bindparam("fin")
                ),
                rows,
            )
        return {job_of(t) for t, *_ in items}

    def job(self, job_id: str) -> JobRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
        return job_row(row) if row else None

    def job_counts(self, job_id: str) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {s: n for s, n in conn.execute(sa.select(tasks.c.state, sa.func.count()).where(tasks.c.job_id == job_id).group_by(tasks.c.state))}

    def job_counts_many(self, job_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {j: {} for j in job_ids}
        if not job_ids:
            return out
        q = sa.select(tasks.c.job_id, tasks.c.state, sa.func.count()).where(tasks.c.job_id.in_(list(job_ids))).group_by(tasks.c.job_id, tasks.c.state)
        with self.engine.connect() as conn:
            for job_id, state, n in conn.execute(q):
                out[job_id][state] = n
        return out

    def finish_job_if_done(self, job_id: str) -> bool:
        # Called after every batch of results: one index probe, not a count of the whole job.
        left = sa.select(tasks.c.id).where(tasks.c.job_id == job_id, tasks.c.state.in_(NON_FINAL)).limit(1)
        with self.engine.connect() as conn:
            if conn.execute(left).first() is not None:
                return False
        with self.engine.begin() as conn:
            # A cancelled or rejected job keeps saying so.
            state = sa.case((jobs.c.state == "running", "done"), else_=jobs.c.state)
            conn.execute(jobs.update().where(jobs.c.id == job_id, jobs.c.finished.is_(None)).values(state=state, finished=time.time()))
        return True

    def set_job_state(self, job_id: str, state: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(jobs.update().where(jobs.c.id == job_id).values(state=state))

    def job_tasks(self, job_id: str, *, offset: int = 0, limit: int = 0, states: Sequence[str] = ()) -> list[TaskRow]:
        q = (
            sa.select(*TASK_ROW)
            .select_from(tasks.outerjoin(agents, agents.c.id == tasks.c.agent_id))
            .where(tasks.c.job_id == job_id)
            .order_by(agents.c.hostname, tasks.c.id)
        )
        if states:
            q = q.where(tasks.c.state.in_(list(states)))
        if offset:
            q = q.offset(offset)
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [task_row(r) for r in conn.execute(q)]

    def list_jobs(
        self, limit: int = 50, *, accounts: Sequence[str] | None = None, also_state: str = "", state: str = "", action: str = "",
        before: tuple[float, str] | None = None,
    ) -> list[JobRow]:
        """Newest first. ``accounts``: only jobs of these accounts (plus, with
        ``also_state``, any job in that state); ``None``: every account.
        ``before``: only jobs older than this (created, id) key (paging)."""
        q = sa.select(jobs).order_by(jobs.c.created.desc(), jobs.c.id.desc()).limit(limit)
        if before is not None:
            q = q.where(past_key(jobs.c.created, jobs.c.id, before, descending=True))
        if accounts is not None:
            mine = jobs.c.account.in_(list(accounts))
            q = q.where(sa.or_(mine, jobs.c.state == also_state) if also_state else mine)
        if state:
            q = q.where(jobs.c.state == state)
        if action:
            q = q.where(jobs.c.action == action)
        with self.engine.connect() as conn:
            return [job_row(r) for r in conn.execute(q)]

    def job_hosts(self, job_id: str) -> list[HostRow]:
        """The agent rows of every host a job targets."""
        q = sa.select(agents).select_from(tasks.join(agents, agents.c.id == tasks.c.agent_id)).where(tasks.c.job_id == job_id)
        with self.engine.connect() as conn:
            return [host_row(r) for r in conn.execute(q)]

    def due_tasks(self, now: float, limit: int = 5000) -> list[DueTask]:
        """Non-final tasks whose deadline passed, with their agent's status."""
        q = (
            sa.select(
                tasks.c.id, tasks.c.state, tasks.c.agent_id, agents.c.online, agents.c.code, agents.c.health, agents.c.last_seen,
                agents.c.proxy_id, agents.c.revoked, agents.c.version, jobs.c.state.label("job_state"), jobs.c.action,
            )
            .select_from(tasks.outerjoin(agents, agents.c.id == tasks.c.agent_id).join(jobs, jobs.c.id == tasks.c.job_id))
            .where(tasks.c.state.in_(NON_FINAL), tasks.c.deadline < now)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [
                DueTask(id=i, state=s, agent_id=a, online=on, code=c, health=h, last_seen=seen, proxy_id=p, revoked=rv, version=v, job_state=js, action=act)
                for i, s, a, on, c, h, seen, p, rv, v, js, act in conn.execute(q)
            ]

    def undelivered_for(self, agent_ids: Sequence[str], now: float) -> list[TaskTarget]:
        """Tasks that never reached these agents and are still in time."""
        if not agent_ids:
            return []
        out: list[TaskTarget] = []
        with self.engine.connect() as conn:
            for chunk in _chunks(list(agent_ids), 500):
                q = sa.select(tasks.c.id, tasks.c.job_id, tasks.c.agent_id).where(
                    # "delivered" too: the bytes may have died in a killed proxy's
                    # buffer; the agent's journal makes a repeat harmless.
                    tasks.c.agent_id.in_(chunk), tasks.c.state.in_(["created", "dispatched", "delivered"]), tasks.c.deadline > now
                )
                out += [TaskTarget(id=i, job_id=j, agent_id=a) for i, j, a in conn.execute(q)]
        return out

    def stuck_tasks(
        self, now: float, before: float, proxy_ids: Sequence[str], limit: int = 20000, *, delivered_before: float | None = None
    ) -> list[TaskTarget]:
        """Unacknowledged tasks of running jobs, still in time, whose host is online on
        one of ``proxy_ids``: candidates to send again. A task not delivered yet is one
        when its last hop (dispatch or creation) was before ``before``; a task its proxy
        wrote to the agent's connection, when that was before ``delivered_before``
        (default: ``before``)."""
        if not proxy_ids:
            return []
        if delivered_before is None:
            delivered_before = before
        # The last hop it made: a task delivered late in a large batch gets its own while.
        last = sa.func.coalesce(tasks.c.dispatched, tasks.c.created)
        q = (
            sa.select(tasks.c.id, tasks.c.job_id, tasks.c.agent_id)
            .select_from(tasks.join(agents, agents.c.id == tasks.c.agent_id).join(jobs, jobs.c.id == tasks.c.job_id))
            .where(
                tasks.c.state.in_(["created", "dispatched", "delivered"]),
                tasks.c.deadline > now,
                sa.or_(
                    sa.and_(tasks.c.delivered.is_(None), last < before),
                    # A re-dispatch bumps ``dispatched``, not ``delivered``: both count.
                    sa.and_(tasks.c.delivered < delivered_before, last < delivered_before),
                ),
                agents.c.online.is_(True),
                agents.c.proxy_id.in_(list(proxy_ids)),
                jobs.c.state == "running",
            )
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [TaskTarget(id=i, job_id=j, agent_id=a) for i, j, a in conn.execute(q)]

    def result_keys(self, task_ids: Sequence[str]) -> dict[str, str]:
        """The enrolled public key (base64, may be empty) of each task's host."""
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(task_ids), 500):
                q = sa.select(tasks.c.id, agents.c.public_key).select_from(tasks.join(agents, agents.c.id == tasks.c.agent_id)).where(tasks.c.id.in_(chunk))
                out.update({r.id: r.public_key or "" for r in conn.execute(q)})
        return out

    def job_task_refs(self, job_id: str) -> list[tuple[str, str]]:
        """Every ``(task_id, agent_id)`` of a job in creation order (the order the
        job's Merkle tree is built in)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(tasks.c.id, tasks.c.agent_id).where(tasks.c.job_id == job_id)).all()
        return sorted(((r.id, r.agent_id) for r in rows), key=lambda r: int(r[0].rsplit("-", 1)[1], 16))

    def job_final_ids(self, job_id: str) -> list[str]:
        """The ids of a job's tasks that reached a final state (cheap: ids only)."""
        with self.engine.connect() as conn:
            q = sa.select(tasks.c.id).where(tasks.c.job_id == job_id, tasks.c.state.in_(list(FINAL_STATES))).order_by(tasks.c.id)
            return [r.id for r in conn.execute(q)]

    def tasks_by_id(self, job_id: str, task_ids: Sequence[str]) -> list[TaskRow]:
        """Full rows (with the host's name, ip, IDC) of these tasks of one job, in the
        order asked for (the live result stream sends them in that order)."""
        found: dict[str, TaskRow] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(task_ids), 500):
                q = (sa.select(*TASK_ROW)
                     .select_from(tasks.outerjoin(agents, agents.c.id == tasks.c.agent_id))
                     .where(tasks.c.job_id == job_id, tasks.c.id.in_(chunk)))
                found.update((row.id, row) for row in (task_row(r) for r in conn.execute(q)))
        return [found[t] for t in task_ids if t in found]

    def set_deadline(self, job_id: str, deadline: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(jobs.update().where(jobs.c.id == job_id).values(deadline=deadline))
            conn.execute(tasks.update().where(tasks.c.job_id == job_id, tasks.c.state.in_(NON_FINAL)).values(deadline=deadline))

    def running_tasks(self, job_id: str) -> list[TaskState]:
        """The job's tasks not final yet."""
        with self.engine.connect() as conn:
            q = sa.select(tasks.c.id, tasks.c.agent_id, tasks.c.state, tasks.c.proxy_id).where(tasks.c.job_id == job_id, tasks.c.state.in_(NON_FINAL))
            return [TaskState(id=i, job_id=job_id, agent_id=a, state=s, proxy_id=p) for i, a, s, p in conn.execute(q)]


# -- rows to records ---------------------------------------------------------------------

#: The columns of a :class:`TaskRow`, in its field order.
TASK_ROW = (*tasks.c, agents.c.hostname, agents.c.ip, agents.c.idc)


def host_row(r: Sequence[Any]) -> HostRow:
    """A :class:`HostRow` from a row of ``select(agents)``, JSON columns decoded (by
    position: target resolution and host listings read the whole fleet)."""
    (i, sn, hostname, ip, os, idc, tags, version, proxy_id, carrier, online, code, last_seen, health, registered, revoked,
     public_key, catalogue) = r
    return HostRow(
        id=i, sn=sn, hostname=hostname, ip=ip, os=os, idc=idc, tags=json.loads(tags or "[]"), version=version, proxy_id=proxy_id,
        carrier=carrier, online=online, code=code, last_seen=last_seen, health=json.loads(health or "{}"), registered=registered,
        revoked=revoked, public_key=public_key, catalogue=catalogue,
    )


def cmdb_row(r: sa.Row[tuple[Any, ...]]) -> CmdbRow:
    """A :class:`CmdbRow` from a row of ``select(cmdb_hosts)`` (tags decoded)."""
    return CmdbRow(**{**r._mapping, "tags": json.loads(r.tags or "[]")})


def job_row(r: sa.Row[tuple[Any, ...]]) -> JobRow:
    """A :class:`JobRow` from a row of ``select(jobs)``."""
    return JobRow(**r._mapping)


def task_row(r: Sequence[Any]) -> TaskRow:
    """A :class:`TaskRow` from a row of ``select(*TASK_ROW)`` (by position: the result
    listings read thousands of them)."""
    (i, job_id, agent_id, state, code, message, exit_code, stdout, stderr, data, truncated, proxy_id, deadline, attempts,
     created, dispatched, delivered, received, running, finished, hostname, ip, idc) = r
    return TaskRow(
        id=i, job_id=job_id, agent_id=agent_id, state=state, code=code, message=message, exit_code=exit_code,
        stdout=stdout, stderr=stderr, data=json.loads(data) if data else None, truncated=bool(truncated), proxy_id=proxy_id,
        deadline=deadline, attempts=attempts, created=created, dispatched=dispatched, delivered=delivered, received=received,
        running=running, finished=finished, hostname=hostname, ip=ip, idc=idc,
    )


def job_of(task_id: str) -> str:
    """The job id inside a task id (``{job_id}-{index:x}``)."""
    return task_id.rsplit("-", 1)[0]


def _apply_events(conn: sa.Connection, events: Sequence[TaskEvent]) -> None:
    by_state: dict[str, list[dict[str, Any]]] = {}
    for ev in events:
        if ev.state in _BEFORE:
            by_state.setdefault(ev.state, []).append({"tid": ev.task_id, "at": ev.at})
    for state, rows in by_state.items():
        col = tasks.c[state]
        _executemany(
            conn,
            tasks.update().where(tasks.c.id == bindparam("tid"), _state_in(_BEFORE[state])).values({tasks.c.state: state, col: bindparam("at")}),
            rows,
        )


def _executemany(conn: sa.Connection, stmt: Any, rows: list[dict[str, Any]]) -> None:
    """``conn.execute(stmt, rows)`` for the center's largest batches (a job's events and
    results), without SQLAlchemy's processing of every row's parameters: that was more
    than the database's own work (SQLite: 17 -> 6 us a result row, 7.5 -> 3.5 an event).
    The statement is compiled once for the call and the rows go to the driver as they are
    (str, float, int, bool and None, which every driver here takes without conversion)."""
    compiled = stmt.compile(dialect=conn.dialect)
    fixed = compiled.params  # binds with a value of their own (the new state)
    if compiled.positional:
        names = compiled.positiontup or []
        params: list[Any] = [tuple(row[n] if n in row else fixed[n] for n in names) for row in rows]
    else:
        params = [{**fixed, **row} for row in rows]
    conn.exec_driver_sql(str(compiled), params)


def _store_results(conn: sa.Connection, results: Sequence[Result]) -> set[str]:
    rows = []
    for r in results:
        if r.state not in FINAL_STATES:
            continue
        data = None
        if r.data:
            try:
                data = json.dumps(decode_value(r.data), default=str)
            except Exception:
                data = json.dumps({"undecodable": True})
        rows.append({
            "tid": r.task_id, "st": r.state, "code": r.code, "msg": r.message, "ec": r.exit_code,
            "out": r.stdout, "err": r.stderr, "data": data, "trunc": r.truncated,
            "started": r.started or None, "fin": r.finished or time.time(),
        })
    if not rows:
        return set()
    _executemany(
        conn,
        tasks.update().where(tasks.c.id == bindparam("tid"), _state_in(NON_FINAL)).values(
            state=bindparam("st"), code=bindparam("code"), message=bindparam("msg"),
            exit_code=bindparam("ec"), stdout=bindparam("out"), stderr=bindparam("err"),
            data=bindparam("data"), truncated=bindparam("trunc"),
            running=sa.func.coalesce(tasks.c.running, bindparam("started")), finished=bindparam("fin"),
        ),
        rows,
    )
    return {job_of(r.task_id) for r in results if r.state in FINAL_STATES}


def _chunks(items: list[T], size: int) -> Iterable[list[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class AsyncStore:
    """Runs :class:`Store` methods in a worker thread, never on the event loop.

    Each method below is the awaitable twin of the :class:`Store` method of the
    same name, with the same signature (``tests/center/test_store.py`` checks
    that none is missing or different); :meth:`call` runs anything else."""

    def __init__(self, store: Store) -> None:
        self.sync = store
        # SQLite has one writer; a single worker avoids lock contention.
        self._limiter = trio.CapacityLimiter(1 if store.dialect == "sqlite" else 8)
        #: Told (op, args, seconds) after every store method called through this wrapper (metrics).
        self.observer: Callable[[str, tuple[Any, ...], float], None] | None = None

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run any blocking ``fn(*args)`` on the store's worker thread(s)."""
        return await trio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=self._limiter)

    async def _run(self, op: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        start = time.perf_counter()
        out = await self.call(fn, *args, **kwargs)
        if self.observer is not None:
            self.observer(op, args, time.perf_counter() - start)
        return out

    # -- the facade: every Store method, typed, awaited (keep in step with Store) --------------

    async def register_agent(self, identity: dict[str, Any], version: str, public_key: str = "", catalogue: str = "") -> tuple[str, bool]:
        return await self._run("register_agent", self.sync.register_agent, identity, version, public_key, catalogue)

    async def register_agents(self, enrollees: Sequence[Enrollee]) -> list[tuple[str, bool]]:
        return await self._run("register_agents", self.sync.register_agents, enrollees)

    async def add_catalogue(self, digest: str, doc: bytes) -> None:
        return await self._run("add_catalogue", self.sync.add_catalogue, digest, doc)

    async def catalogue_docs(self, digests: Iterable[str]) -> dict[str, bytes]:
        return await self._run("catalogue_docs", self.sync.catalogue_docs, digests)

    async def all_catalogue_digests(self) -> list[str]:
        return await self._run("all_catalogue_digests", self.sync.all_catalogue_digests)

    async def revoke_agent(self, agent_id: str, revoked: bool = True) -> bool:
        return await self._run("revoke_agent", self.sync.revoke_agent, agent_id, revoked)

    async def revoked_agents(self) -> list[str]:
        return await self._run("revoked_agents", self.sync.revoked_agents)

    async def select_agents(
        self, *, hosts: Sequence[str] = (), tags: Sequence[str] = (), idc: str = "", all_hosts: bool = False, online: bool | None = None,
        limit: int = 0, after: tuple[str, str] | None = None,
    ) -> list[HostRow]:
        return await self._run(
            "select_agents", self.sync.select_agents, hosts=hosts, tags=tags, idc=idc, all_hosts=all_hosts, online=online, limit=limit, after=after,
        )

    async def agent_by_id(self, agent_ids: Iterable[str]) -> dict[str, HostRow]:
        return await self._run("agent_by_id", self.sync.agent_by_id, agent_ids)

    async def presence_changes(self, proxy_id: str, came: Sequence[HostBeat], gone: Sequence[tuple[str, str]], present: Sequence[str] | None = None) -> None:
        return await self._run("presence_changes", self.sync.presence_changes, proxy_id, came, gone, present)

    async def presence_snapshot(self, beats: Sequence[HostBeat]) -> None:
        return await self._run("presence_snapshot", self.sync.presence_snapshot, beats)

    async def proxy_lost(self, proxy_id: str, code: str = 'E001') -> None:
        return await self._run("proxy_lost", self.sync.proxy_lost, proxy_id, code)

    async def mark_stale_agents(self, before: float) -> int:
        return await self._run("mark_stale_agents", self.sync.mark_stale_agents, before)

    async def upsert_proxy(self, proxy_id: str, **values: Any) -> None:
        return await self._run("upsert_proxy", self.sync.upsert_proxy, proxy_id, **values)

    async def revoke_proxy(self, proxy_id: str, revoked: bool = True) -> bool:
        return await self._run("revoke_proxy", self.sync.revoke_proxy, proxy_id, revoked)

    async def revoked_proxies(self) -> set[str]:
        return await self._run("revoked_proxies", self.sync.revoked_proxies)

    async def list_proxies(self, idc: str | None = None, online: bool | None = None) -> list[ProxyRow]:
        return await self._run("list_proxies", self.sync.list_proxies, idc, online)

    async def create_job(self, job: JobRow, task_rows: Sequence[NewTask]) -> None:
        return await self._run("create_job", self.sync.create_job, job, task_rows)

    async def mark(self, task_ids: Sequence[str], state: str, at: float, proxy_id: str | None = None) -> None:
        return await self._run("mark", self.sync.mark, task_ids, state, at, proxy_id)

    async def apply_events(self, events: Sequence[TaskEvent]) -> None:
        return await self._run("apply_events", self.sync.apply_events, events)

    async def store_results(self, results: Sequence[Result]) -> set[str]:
        return await self._run("store_results", self.sync.store_results, results)

    async def store_progress(self, events: Sequence[TaskEvent], results: Sequence[Result]) -> set[str]:
        return await self._run("store_progress", self.sync.store_progress, events, results)

    async def finalize(self, items: Sequence[tuple[str, str, str, str]]) -> set[str]:
        return await self._run("finalize", self.sync.finalize, items)

    async def job(self, job_id: str) -> JobRow | None:
        return await self._run("job", self.sync.job, job_id)

    async def job_counts(self, job_id: str) -> dict[str, int]:
        return await self._run("job_counts", self.sync.job_counts, job_id)

    async def job_counts_many(self, job_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        return await self._run("job_counts_many", self.sync.job_counts_many, job_ids)

    async def finish_job_if_done(self, job_id: str) -> bool:
        return await self._run("finish_job_if_done", self.sync.finish_job_if_done, job_id)

    async def set_job_state(self, job_id: str, state: str) -> None:
        return await self._run("set_job_state", self.sync.set_job_state, job_id, state)

    async def job_tasks(self, job_id: str, *, offset: int = 0, limit: int = 0, states: Sequence[str] = ()) -> list[TaskRow]:
        return await self._run("job_tasks", self.sync.job_tasks, job_id, offset=offset, limit=limit, states=states)

    async def job_final_ids(self, job_id: str) -> list[str]:
        return await self._run("job_final_ids", self.sync.job_final_ids, job_id)

    async def tasks_by_id(self, job_id: str, task_ids: Sequence[str]) -> list[TaskRow]:
        return await self._run("tasks_by_id", self.sync.tasks_by_id, job_id, task_ids)

    async def list_jobs(
        self, limit: int = 50, *, accounts: Sequence[str] | None = None, also_state: str = "", state: str = "", action: str = "",
        before: tuple[float, str] | None = None,
    ) -> list[JobRow]:
        return await self._run("list_jobs", self.sync.list_jobs, limit, accounts=accounts, also_state=also_state, state=state, action=action, before=before)

    async def job_hosts(self, job_id: str) -> list[HostRow]:
        return await self._run("job_hosts", self.sync.job_hosts, job_id)

    async def due_tasks(self, now: float, limit: int = 5000) -> list[DueTask]:
        return await self._run("due_tasks", self.sync.due_tasks, now, limit)

    async def undelivered_for(self, agent_ids: Sequence[str], now: float) -> list[TaskTarget]:
        return await self._run("undelivered_for", self.sync.undelivered_for, agent_ids, now)

    async def stuck_tasks(
        self, now: float, before: float, proxy_ids: Sequence[str], limit: int = 20000, *, delivered_before: float | None = None
    ) -> list[TaskTarget]:
        return await self._run("stuck_tasks", self.sync.stuck_tasks, now, before, proxy_ids, limit, delivered_before=delivered_before)

    async def result_keys(self, task_ids: Sequence[str]) -> dict[str, str]:
        return await self._run("result_keys", self.sync.result_keys, task_ids)

    async def job_task_refs(self, job_id: str) -> list[tuple[str, str]]:
        return await self._run("job_task_refs", self.sync.job_task_refs, job_id)

    async def set_deadline(self, job_id: str, deadline: float) -> None:
        return await self._run("set_deadline", self.sync.set_deadline, job_id, deadline)

    async def running_tasks(self, job_id: str) -> list[TaskState]:
        return await self._run("running_tasks", self.sync.running_tasks, job_id)



accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    #: Sealed with the accounts key (``v1:`` + AES-GCM), never plain text.
    sa.Column("secret", sa.String(255), nullable=False),
    sa.Column("name", sa.String(128), nullable=False, default=""),
    sa.Column("scopes", sa.Text, nullable=False, default="{}"),
    sa.Column("approver", sa.Boolean, nullable=False, default=False),
    sa.Column("admin", sa.Boolean, nullable=False, default=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created", sa.Double, nullable=False, default=0.0),
    #: Command mapping: {"alias": "real command"}; empty = raw commands allowed.
    sa.Column("mapping", sa.Text, nullable=False, default="{}"),
    #: The account that created this one ("config", "local:…" or a key id).
    sa.Column("created_by", sa.String(64), nullable=False, default=""),
    sa.Column("rotated", sa.Double),
)

#: The hash-chained audit log lives in the same schema.
audit_log = audit_table(metadata)

#: The file channel's chunk index (center._files).
file_chunks = chunk_table(metadata)

nonces = sa.Table(
    "api_nonces",
    metadata,
    sa.Column("nonce", sa.String(96), primary_key=True),
    sa.Column("expires", sa.Double, nullable=False, index=True),
)

# The diagnosis, rollout and CMDB tables join the same schema (create_all).
from . import _records  # noqa: E402,F401
