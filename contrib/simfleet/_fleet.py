"""The simulated fleet: N agent sessions in one trio process, one journal,
one status file.

Every identity is a real :class:`agent_core._session.AgentSession` — the same
class the agent runs — with its own Ed25519 key, enrolled with that key (through
a proxy given with ``proxies``, batched, on the connection it then logs in on;
else over the real HTTPS endpoint), proving it in ``hello`` and signing every
result.
What the fleet shares between identities is only what costs memory and
changes nothing on the wire: the journal file (:class:`._journal.FleetJournal`,
keyed by agent), the TLS context, the HTTP client for registration, the task
nursery and the in-process executor (:mod:`._executor`).

Keys are derived from one random seed kept in ``<state_dir>/fleet-seed``
(``SHA-256(seed || sn)`` is the Ed25519 seed of identity ``sn``), so a
restarted fleet has the same keys, and results journaled before a ``kill -9``
still verify at the center.

The status file (``<state_dir>/status.json``, rewritten atomically every
second) is what tests and benchmarks read::

    {"pid": 123, "count": 1000, "registered": 1000, "connected": 998,
     "by_proxy": {"proxy-1": 500, "proxy-2": 498}, "executions": 1000,
     "executed_twice": 0, "rss": 123456789, "stats": {...}, "time": ...}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import secrets
import ssl
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import trio
from nacl.signing import SigningKey

from agent_core.host import (
    ENROLL_REFUSED,
    AgentSession,
    Enrollment,
    Identity,
    KeySigner,
    RegistrationError,
    SessionOwner,
    SessionSettings,
    catalogue_for,
    enroll_request,
    register,
)
from transports import ErrorCode, Health, Result, Task, client_context, create_private
from transports.signing import public_key_bytes, sign_result

from ._executor import execute
from ._journal import AgentJournal, FleetJournal

log = logging.getLogger("starling.simfleet")

SOFTWARE = "starling-simfleet/0.2.0"
RESEND_AFTER = 20.0
#: Logins (connect, TLS, enroll, hello → welcome) in flight per source address
#: of a fleet process; the proxy refuses more than ``max_preauth_per_source``
#: (64 by default) from one address before login.
LOGINS_IN_FLIGHT = 48


def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _seed(state_dir: Path) -> bytes:
    path = state_dir / "fleet-seed"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        seed = secrets.token_bytes(32)
        with create_private(path).open("wb") as fh:
            fh.write(seed)
        return seed


class _Poster:
    """Registration over one pooled HTTPS client (keep-alive), instead of the
    agent's one-connection-per-call stdlib client: N identities in one process
    would otherwise pay N TLS handshakes and N threads."""

    def __init__(self, ctx: ssl.SSLContext | None, limit: int) -> None:
        import httpx

        self._client = httpx.AsyncClient(
            verify=ctx if ctx is not None else True, timeout=30,
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
        )
        self._errors = (httpx.TransportError,)

    async def __call__(self, url: str, body: bytes) -> tuple[int, bytes]:
        try:
            resp = await self._client.post(url, content=body, headers={"Content-Type": "application/json"})
        except self._errors as exc:
            raise OSError(str(exc)) from exc
        return resp.status_code, resp.content

    async def aclose(self) -> None:
        await self._client.aclose()


async def run_simulated(task: Task, session: AgentSession) -> Result:
    """The fleet's executor: every protocol step real, the work in process."""
    scope = await session.begin(task)
    if task.job.action == "file.install":
        from ._files import install

        return await install(session, task.task_id, task.job, scope)
    return await execute(task.task_id, task.job, scope)


class SimFleet(SessionOwner):
    """N simulated agents sharing one process.

    :param centers: center API URLs, tried in order for registration.
    :param token: the fleet enrollment token.
    :param count: how many identities.
    :param idc: the IDC every identity reports.
    :param state_dir: where the journal, the key seed and the status file live.
    :param ca_file: CA bundle for the center's and proxies' certificates.
    :param transport: carrier scheme to use (``tcp``, ``quic``, ``http``).
    :param prefix: identities are ``<prefix>-<i>`` (SN and hostname).
    :param first: the index of the first identity (a fleet split over several
        processes gives each a range).
    :param concurrency: registrations in flight at once.
    :param sources: source addresses to bind, spread over the identities
        (several 127.0.0.x: one address has about 28,000 ephemeral ports).
    :param verify_signatures: check each task's center signature before
        journaling it, as the agent does (costs one Ed25519 verify per task).
    :param proxies: proxy URLs to enroll through (``enroll`` on the connection the
        identity then logs in on); empty: enroll over HTTPS with the center.
    """

    def __init__(
        self,
        *,
        centers: list[str],
        token: str,
        count: int,
        idc: str,
        state_dir: str | Path,
        ca_file: str = "",
        transport: str = "tcp",
        prefix: str = "sim",
        first: int = 0,
        concurrency: int = 16,
        sources: list[str] | None = None,
        heartbeat: float = 10.0,
        backoff_min: float = 0.5,
        backoff_max: float = 30.0,
        verify_signatures: bool = True,
        clock_leeway: float = 60.0,
        proxies: list[str] | None = None,
    ) -> None:
        self.centers = centers
        self.proxies = proxies or []
        self.token = token
        self.count = count
        self.idc = idc
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.ca_file = ca_file
        self.prefix = prefix
        self.first = first
        self.sources = sources or []
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.settings = SessionSettings(
            transport=transport, heartbeat=heartbeat, backoff_min=backoff_min, backoff_max=backoff_max,
            verify_signatures=verify_signatures, clock_leeway=clock_leeway, software=SOFTWARE,
            spread_heartbeats=True,
        )
        self.journal = FleetJournal(self.state_dir / "journal.db")
        self.seed = _seed(self.state_dir)
        self.sessions: list[AgentSession] = []
        self.by_proxy: Counter[str] = Counter()
        self.statistics: Counter[str] = Counter()
        self.started = time.time()
        self._concurrency = max(1, concurrency)
        self._limiter = trio.CapacityLimiter(self._concurrency)
        self._pending: dict[str, list[Task]] = {}
        self._nursery: trio.Nursery | None = None
        self._catalogue: tuple[str, msgspec.Raw] | None = None
        self._catalogue_lock = trio.Lock()
        self._poster: _Poster | None = None
        self._health = Health(load1=0.05, cpus=4, mem_total=8 << 30, mem_available=6 << 30)
        self._files: Any = None
        self._logins = {src: trio.CapacityLimiter(LOGINS_IN_FLIGHT) for src in self.sources or [""]}
        #: Set once the fleet's first enrollment taught the center its catalogue.
        self._taught = trio.Event()
        self._teach = trio.Lock()

    @property
    def stats(self) -> Counter[str]:
        return self.statistics

    @property
    def files(self) -> Any:
        """The file channel's chunk store (:class:`._files.SimChunks`), made when first used."""
        if self._files is None:
            from ._files import SimChunks

            self._files = SimChunks(self.state_dir / "files")
        return self._files

    @property
    def nursery(self) -> trio.Nursery:
        assert self._nursery is not None, "the fleet is not running"
        return self._nursery

    def identity(self, i: int) -> Identity:
        return Identity(
            sn=f"{self.prefix}-{i}", ip=f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
            hostname=f"{self.prefix}-{i}", os="simfleet", idc=self.idc, tags=["sim", self.prefix],
        )

    def key(self, sn: str) -> SigningKey:
        """Identity ``sn``'s Ed25519 key (derived from the fleet's seed)."""
        return SigningKey(hashlib.sha256(self.seed + sn.encode()).digest())

    def new_session(self, i: int) -> AgentSession:
        identity = self.identity(i)
        source = self.sources[i % len(self.sources)] if self.sources else None
        return AgentSession(
            identity, journal=AgentJournal(self.journal, ""), executor=run_simulated,
            signer=KeySigner(self.key(identity.sn)), owner=self, settings=self.settings, local_address=source,
        )

    # -- enrollment (SessionOwner) ---------------------------------------------------------

    async def enroll_session(self, session: AgentSession, *, retry: bool) -> Enrollment:
        """Register over the real HTTPS endpoint with the identity's key (a
        few at a time). The first enrollment of a run may fall back to the
        saved one when no center answers, as the agent does."""
        fresh = session.enrollment is not None
        if self.proxies:
            enrollment = await self._enroll_through_proxy(session, fresh=fresh, retry=retry)
        else:
            enrollment = await self.enroll(session.identity, session.signer, fresh=fresh, retry=retry)
        assert isinstance(session.journal, AgentJournal)
        session.journal.agent = enrollment.agent_id
        return enrollment

    async def _catalogue_digest(self) -> str:
        async with self._catalogue_lock:
            if self._catalogue is None:
                # The real agent's catalogue: simulated hosts declare what real ones do.
                self._catalogue = await trio.to_thread.run_sync(catalogue_for, self.state_dir)
        return self._catalogue[0]

    async def _enroll_through_proxy(self, session: AgentSession, *, fresh: bool, retry: bool) -> Enrollment:
        """Enroll through a proxy (the agent session's own way); the catalogue, when
        the center asks for it, goes over HTTPS (it is larger than a login frame)."""
        if not self._taught.is_set():
            # The first enrollment teaches the center the fleet's catalogue (over HTTPS,
            # when asked): the rest wait for it rather than each being asked for it.
            async with self._teach:
                if not self._taught.is_set():
                    enrollment = await self._enroll_through_proxy_once(session, fresh=fresh, retry=retry)
                    self._taught.set()
                    return enrollment
        return await self._enroll_through_proxy_once(session, fresh=fresh, retry=retry)

    async def _enroll_through_proxy_once(self, session: AgentSession, *, fresh: bool, retry: bool) -> Enrollment:
        identity = session.identity
        delay = self.backoff_min
        while True:
            assert isinstance(session.signer, KeySigner)
            request = enroll_request(self.token, identity, SOFTWARE, session.signer.key, await self._catalogue_digest())
            try:
                enrollment = await session.enroll_through(self.proxies, request)
            except RegistrationError as exc:
                if exc.code in ENROLL_REFUSED:
                    raise
                if exc.code is ErrorCode.P003:  # a proxy that does not relay enrollments
                    return await self.enroll(identity, session.signer, fresh=fresh, retry=retry)
                cached = self.journal.enrollment(identity.sn)
                if cached is not None and not fresh:
                    return msgspec.json.decode(cached, type=Enrollment)
                if not retry:
                    raise
                log.info("%s: enrollment through a proxy failed (%s: %s); retrying", identity.sn, exc.code, exc)
                self.statistics["registration_retries"] += 1
                self.statistics[f"enroll_retries_{exc.code.value}"] += 1
                await trio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, self.backoff_max)
                continue
            if enrollment.catalogue_wanted:
                enrollment = await self.enroll(identity, session.signer, fresh=True, retry=retry)
            else:
                self.journal.save_enrollment(identity.sn, enrollment.agent_id, msgspec.json.encode(enrollment))
                self.statistics["registrations"] += 1
            self.statistics["enrolled_via_proxy"] += 1
            return enrollment

    async def enroll(self, identity: Identity, signer: Any, *, fresh: bool = False, retry: bool = True) -> Enrollment:
        delay = self.backoff_min
        while True:
            try:
                async with self._limiter:
                    async with self._catalogue_lock:
                        if self._catalogue is None:
                            # The real agent's catalogue: simulated hosts declare what real ones do.
                            self._catalogue = await trio.to_thread.run_sync(catalogue_for, self.state_dir)
                    enrollment = await register(
                        self.centers, self.token, identity, SOFTWARE, self.settings.ssl_context,
                        public_key=public_key_bytes(signer.key), catalogue=self._catalogue, post=self._poster,
                    )
            except RegistrationError as exc:
                if exc.code in (ErrorCode.C017, ErrorCode.C019):
                    raise
                cached = self.journal.enrollment(identity.sn)
                if cached is not None and not fresh:
                    return msgspec.json.decode(cached, type=Enrollment)
                if not retry:
                    raise
                log.info("%s: registration failed (%s: %s); retrying", identity.sn, exc.code, exc)
                self.statistics["registration_retries"] += 1
                await trio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, self.backoff_max)
                continue
            self.journal.save_enrollment(identity.sn, enrollment.agent_id, msgspec.json.encode(enrollment))
            self.statistics["registrations"] += 1
            return enrollment

    # -- the rest of SessionOwner ------------------------------------------------------------

    def health(self, session: AgentSession) -> Health:
        h = self._health
        h.uptime = time.time() - self.started
        h.running = len(session.running)
        return h

    def connect_limiter(self, session: AgentSession) -> trio.CapacityLimiter:
        """Logins in flight (connect to welcome) stay under the proxy's
        pre-login cap per source address (64 by default): past it the proxy
        refuses connections before TLS, and on a starved machine handshakes
        that outlast the 5 s connect timeout are abandoned while the proxy
        still counts them, until it refuses everything (seen at 9,000
        identities with 56 per source on 4 sources). Real hosts each have
        their own address and log in once; a fleet in one process bounds its
        logins in flight per source address (a login is now short: the
        enrollment rides on it, no HTTPS request before it)."""
        return self._logins[session.local_address or ""]

    def link_up(self, session: AgentSession, proxy_id: str, carrier: str) -> None:
        self.by_proxy[proxy_id] += 1

    def link_down(self, session: AgentSession, proxy_id: str) -> None:
        self.by_proxy[proxy_id] -= 1
        if self.by_proxy[proxy_id] <= 0:
            del self.by_proxy[proxy_id]

    # -- running -----------------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run every identity until cancelled."""
        ctx = client_context(self.ca_file or None)
        self.settings = dataclasses.replace(self.settings, ssl_context=ctx)
        self._poster = _Poster(ctx, self._concurrency)
        self._recover()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._status_writer)
                nursery.start_soon(self._housekeeping)
                for i in range(self.first, self.first + self.count):
                    session = self.new_session(i)
                    self.sessions.append(session)
                    nursery.start_soon(self._run_session, session)
                task_status.started(self)
        finally:
            with trio.CancelScope(shield=True):
                await self._poster.aclose()

    def _recover(self) -> None:
        """After a restart: tasks that were running become signed A007 results
        (never re-run); tasks received but not started are run once enrolled."""
        interrupted, pending = self.journal.recover()
        for agent_id, res in interrupted:
            log.warning("task %s of %s was running when the fleet stopped; reported as A007", res.task_id, agent_id)
            sn = self.journal.sn_of(agent_id)
            if sn is not None:
                self.journal.finish(sign_result(self.key(sn), res))
        for agent_id, task in pending:
            self._pending.setdefault(agent_id, []).append(task)
        self.statistics["interrupted"] = len(interrupted)

    async def _run_session(self, session: AgentSession) -> None:
        session.enrollment = await self.enroll_session(session, retry=True)
        for task in self._pending.pop(session.agent_id, []):
            self.nursery.start_soon(session.run_task, task)
        await session.run(self.nursery)

    async def _housekeeping(self) -> None:
        """Re-send results nobody acknowledged for a while (a proxy or center
        may have lost them); the receivers are idempotent."""
        while True:
            await trio.sleep(10)
            owners = self.journal.agents_with_unacked()
            if not owners:
                continue
            for session in self.sessions:
                if session.agent_id in owners:
                    self.statistics["results_resent"] += await session.resend_unacked(RESEND_AFTER)

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "count": self.count,
            "registered": sum(1 for s in self.sessions if s.enrollment is not None),
            "connected": sum(self.by_proxy.values()),
            "by_proxy": dict(self.by_proxy),
            "executions": self.journal.executions(),
            "executed_twice": len(self.journal.executed_twice()),
            "journal": self.journal.counts(),
            "rss": _rss(),
            "stats": dict(self.statistics),
            "time": time.time(),
        }

    def write_status(self) -> None:
        self._replace_status(json.dumps(self.status()))

    def _replace_status(self, text: str) -> None:
        path = self.state_dir / "status.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)

    async def _status_writer(self) -> None:
        while True:
            # The figures here, the file in a thread: a rename over the old file can wait
            # on the disk (ext4 writes the new file's data first), and every session of the
            # process would wait with it (py-spy: a seventh of the fleet's samples while enrolling).
            await trio.to_thread.run_sync(self._replace_status, json.dumps(self.status()))
            await trio.sleep(1)
