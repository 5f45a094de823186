"""One agent's session with the proxy tier, whoever hosts it.

:class:`AgentSession` is the connection loop of an agent: pick a proxy from the
enrollment, connect, ``hello`` with a proof of the agent's key, heartbeat, and
the receive loop — task → signature check → journal → ack (received) → run →
ack (running) → signed result → ``result_ack``; ``cancel``, ``drain``, jittered
exponential reconnects and re-sending unacknowledged results.

The real agent (:class:`agent_core._agent.Agent`) runs one session; the
simulated fleet (``contrib.simfleet``) runs thousands in one process. What
differs between them is handed in, never re-implemented:

* the *journal* (:class:`SessionJournal`): the agent's SQLite file, or one
  shared file keyed by agent for the fleet;
* the *executor* (:data:`Executor`): the plugin kernel, or an in-process echo;
* the *signer* (:class:`Signer`): the agent's Ed25519 key signs hello proofs
  and results (:class:`KeySigner`);
* the *owner* (:class:`SessionOwner`): enrollment, health, link bookkeeping.

Tasks belong to the agent, not to a connection: they run in the owner's
nursery, keep running when the link drops, and their result waits in the
journal until a proxy (any proxy) carries it and the center acknowledges it.

Sends are coalesced: messages (acks, results, output) queued while a write is
in flight go out together in the next write, made by the connection's own
writer task (:mod:`agent_core._outbox`), never by a sender that may be cancelled.
"""

from __future__ import annotations

import base64
import functools
import logging
import random
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import trio

from transports import (
    Ack,
    Cancel,
    Channel,
    ChunkAck,
    ChunkData,
    ConnectFailed,
    Drain,
    Enroll,
    ErrorMsg,
    Health,
    Hello,
    Message,
    Ping,
    Pong,
    Result,
    ResultAck,
    StarlingError,
    StreamClose,
    StreamCredit,
    StreamData,
    StreamOpen,
    StreamResize,
    Task,
    TransportError,
    Welcome,
    get_carrier,
    leaf_errors,
)
from transports import ErrorCode as EC
from transports.signing import (
    DEFAULT_MAX_LIFETIME,
    DEFAULT_MAX_TIMEOUT,
    PrivateKey,
    sign_hello,
    sign_result,
    verify_task_message,
)

from ._identity import Identity
from ._outbox import Outbox
from ._register import Enrollment, ProxyInfo, RegistrationError, enroll_on

log = logging.getLogger("starling.agent")

SCHEME_ORDER = {"quic": 0, "tcp": 1, "https": 2, "http": 3}


#: What a failed dial to a proxy raises: the next URL is tried.
DIAL_ERRORS = (ConnectFailed, TransportError, trio.TooSlowError, OSError)


@functools.lru_cache(maxsize=16)
def _center_key(b64: str) -> bytes:
    """A trusted center key as bytes, decoded once per process (not once per task)."""
    return base64.b64decode(b64)


class SessionJournal(Protocol):
    """The durable record of one agent's tasks (:class:`agent_core._journal.Journal`)."""

    #: Tasks issued before this time are refused (A019).
    epoch: float

    def receive(self, task: Task) -> tuple[bool, str, Result | None]: ...

    def mark_running(self, task_id: str) -> None: ...

    def finish(self, result: Result) -> None: ...

    def ack(self, task_ids: list[str]) -> None: ...

    def unacked(self) -> list[Result]: ...

    def flush(self) -> None:
        """Make every write so far durable (called before a message leaves)."""


class Signer(Protocol):
    """Proves the agent's identity: hello proofs and result signatures."""

    def sign_hello(self, agent_id: str, ts: float) -> bytes: ...

    def sign_result(self, result: Result) -> Result: ...


class KeySigner:
    """A :class:`Signer` over an Ed25519 private key."""

    __slots__ = ("key",)

    def __init__(self, key: PrivateKey) -> None:
        self.key = key

    def sign_hello(self, agent_id: str, ts: float) -> bytes:
        return sign_hello(self.key, agent_id, ts)

    def sign_result(self, result: Result) -> Result:
        return sign_result(self.key, result)


#: Runs one task and returns its result. It calls ``await session.begin(task)``
#: when the work really starts (after any throttling): that marks the task
#: running in the journal, sends the ``running`` ack, and returns the cancel
#: scope a ``cancel`` message triggers.
Executor = Callable[[Task, "AgentSession"], Awaitable[Result]]


class SessionOwner:
    """What hosts a session supplies besides journal, executor and signer.
    The defaults suit a simulated host; the real agent overrides them."""

    #: Counters shared by the owner's sessions (tasks, duplicates, connects, ...).
    statistics: Counter[str]

    async def enroll_session(self, session: AgentSession, *, retry: bool) -> Enrollment:
        """Register (again) with the center. ``retry``: keep trying until it
        works; otherwise raise :class:`RegistrationError` at once."""
        raise NotImplementedError

    def health(self, session: AgentSession) -> Health:
        return Health(running=len(session.running))

    def preferred_scheme(self) -> str:
        """The carrier that worked last time (tried first under ``auto``)."""
        return ""

    def remember_scheme(self, scheme: str) -> None:
        """A carrier just worked."""

    def connect_limiter(self, session: AgentSession) -> trio.CapacityLimiter | None:
        """A limiter held from connect until the proxy answers the hello (a
        fleet in one process bounds its logins in flight per source address)."""
        return None

    def link_up(self, session: AgentSession, proxy_id: str, carrier: str) -> None:
        """The session is connected and welcomed."""

    def link_down(self, session: AgentSession, proxy_id: str) -> None:
        """The session lost its connection."""

    def task_done(self, session: AgentSession, task: Task, result: Result) -> None:
        """A task finished and its result is journaled."""


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """Settings every session of one owner shares."""

    transport: str = "auto"
    heartbeat: float = 10.0
    backoff_min: float = 0.5
    backoff_max: float = 30.0
    verify_signatures: bool = True
    clock_leeway: float = 60.0
    max_task_lifetime: float = DEFAULT_MAX_LIFETIME
    max_task_timeout: float = DEFAULT_MAX_TIMEOUT
    software: str = "starling-agent"
    ssl_context: ssl.SSLContext | None = None
    #: Start heartbeats at a random point of the interval (a fleet in one
    #: process must not ping in lockstep); the real agent pings at once.
    spread_heartbeats: bool = False


class _Drained(Exception):
    """The proxy asked this agent to move."""


class AgentSession:
    """One agent identity's link to the proxy tier (see the module docstring).

    :param identity: who the agent is (its IDC goes into ``hello``).
    :param journal: the agent's journal.
    :param executor: runs tasks.
    :param signer: signs hello proofs and results.
    :param owner: enrollment, health, bookkeeping.
    :param settings: shared settings.
    :param local_address: bind the client socket to this source address (TCP).
    """

    __slots__ = (
        "identity", "journal", "executor", "signer", "owner", "settings", "local_address",
        "enrollment", "channel", "proxy_id", "running", "chunks", "streams", "_tasks", "_last_rx",
        "_avoid", "_drain_delay", "_outbox", "_slot", "connected", "_spare",
    )

    def __init__(
        self,
        identity: Identity,
        *,
        journal: SessionJournal,
        executor: Executor,
        signer: Signer,
        owner: SessionOwner,
        settings: SessionSettings,
        local_address: str | None = None,
    ) -> None:
        self.identity = identity
        self.journal = journal
        self.executor = executor
        self.signer = signer
        self.owner = owner
        self.settings = settings
        self.local_address = local_address
        self.enrollment: Enrollment | None = None
        self.channel: Channel | None = None
        self.proxy_id = ""
        self.running: dict[str, trio.CancelScope] = {}
        #: The file channel (:class:`agent_core._chunks.ChunkClient`), if the owner gives one.
        self.chunks: Any = None
        #: Interactive streams (:class:`agent_core._streams.StreamHub`), if the owner gives them.
        self.streams: Any = None
        self._tasks: trio.Nursery | None = None
        self._last_rx = 0.0
        self._avoid: set[str] = set()
        self._drain_delay = 0.0
        #: The current connection's send queue and writer (None: no connection).
        self._outbox: Outbox | None = None
        self._slot: trio.CapacityLimiter | None = None
        #: The proxy connection an enrollment went through, kept for the login: (url, channel).
        self._spare: tuple[str, Channel] | None = None
        #: Set while connected and welcomed (a fresh Event after each drop).
        self.connected = trio.Event()

    @property
    def agent_id(self) -> str:
        return self.enrollment.agent_id if self.enrollment else ""

    # -- the connection loop ------------------------------------------------------------

    async def run(self, tasks: trio.Nursery) -> None:
        """Hold one connection to the proxy tier for ever, reconnecting as needed.

        :param tasks: where tasks run (they outlive connections).
        """
        self._tasks = tasks
        if self.enrollment is None:
            self.enrollment = await self.owner.enroll_session(self, retry=True)
        settings = self.settings
        delay = settings.backoff_min
        failures = 0
        while True:
            connected = False
            if self._avoid:
                # Drained: ask the center for the current least-loaded proxies.
                await self._reenroll("re-registration after drain failed")
            candidates = self._candidates()
            avoid, self._avoid = self._avoid, set()
            if any(p.id not in avoid for p, _ in candidates):
                candidates = [(p, u) for p, u in candidates if p.id not in avoid]
            await self._drop_spare(keep={u for _, u in candidates})
            if self._spare is not None:
                # The proxy the enrollment went through is one of ours: log in there first.
                candidates.sort(key=lambda c: c[1] != self._spare[0])  # type: ignore[index]
            for proxy, url in candidates:
                if self._spare is not None and self._spare[0] == url:
                    # Enrolled through this proxy: log in on that connection (its slot is held).
                    channel, self._spare = self._spare[1], None
                else:
                    try:
                        channel = await self._dial(url)
                    except DIAL_ERRORS as exc:
                        log.info("cannot reach proxy %s at %s: %s", proxy.id, url, exc)
                        continue
                connected = True
                if settings.transport == "auto":
                    self.owner.remember_scheme(url.split("://")[0])
                began = trio.current_time()
                try:
                    await self._session(channel, proxy)
                except BaseException as raised:
                    leaves = leaf_errors(raised)
                    if any(isinstance(e, (trio.Cancelled, KeyboardInterrupt)) for e in leaves):
                        raise
                    if self.channel is not None and trio.current_time() - began > 10:
                        delay = settings.backoff_min  # it was a working link: start the backoff afresh
                    first = leaves[0]
                    if isinstance(first, _Drained):
                        self.owner.statistics["drained"] += 1
                        delay = self._drain_delay or settings.backoff_min
                        self._drain_delay = 0.0
                    elif isinstance(first, StarlingError):
                        log.warning("session with proxy %s ended: %s (%s)", proxy.id, first, first.code)
                        if first.code is EC.P005:
                            self.enrollment = await self.owner.enroll_session(self, retry=True)
                    elif isinstance(first, trio.TooSlowError):
                        log.warning("proxy %s did not welcome us in time", proxy.id)
                    else:
                        log.error("session with proxy %s failed", proxy.id, exc_info=first)
                finally:
                    self._release_slot()
                    self._link_down(proxy.id)
                    with trio.CancelScope(shield=True):
                        await channel.aclose()
                break
            if not connected:
                failures += 1
                if failures % 5 == 0:
                    # Ask the center again: the proxy list may have changed.
                    await self._reenroll("re-registration failed")
            # Jittered exponential backoff so a proxy restart is never a stampede.
            await trio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, settings.backoff_max)

    async def enroll_through(self, urls: list[str], request: Enroll) -> Enrollment:
        """Enroll through the first of these proxies that answers (``enroll`` as
        the first message; the center checks it), keeping the connection for
        the login that follows (:meth:`run` logs in on it when the enrollment
        names that proxy). A login slot is held from connect to welcome.

        :raises RegistrationError: the center refused (its code), or no proxy
            carried the enrollment (``C016``, or the proxy's code).
        """
        await self._drop_spare(keep=set())
        errors: list[str] = []
        last: RegistrationError | None = None
        for url in urls:
            try:
                channel = await self._dial(url)
            except DIAL_ERRORS as exc:
                errors.append(f"{url}: {exc}")
                continue
            try:
                with trio.fail_after(10):
                    enrollment = await enroll_on(channel, request)
            except BaseException as exc:
                self._release_slot()
                with trio.CancelScope(shield=True):
                    await channel.aclose()
                if isinstance(exc, RegistrationError):
                    last = exc
                    errors.append(f"{url}: {exc.code.value} {exc}")
                    continue
                if isinstance(exc, (TransportError, trio.TooSlowError, OSError)):
                    errors.append(f"{url}: {exc}")
                    continue
                raise
            self._spare = (url, channel)
            return enrollment
        if last is not None and len(errors) == 1:
            raise last
        raise RegistrationError("no proxy carried the enrollment: " + "; ".join(errors), code=last.code if last else EC.C016)

    async def _drop_spare(self, keep: set[str]) -> None:
        """Close the enrollment's connection unless its proxy is among ``keep``."""
        if self._spare is not None and self._spare[0] not in keep:
            channel, self._spare = self._spare[1], None
            self._release_slot()
            with trio.CancelScope(shield=True):
                await channel.aclose()

    async def _dial(self, url: str) -> Channel:
        """A connection to ``url`` holding a login slot (5 s at most); when it fails
        (:data:`DIAL_ERRORS`) the slot is given back."""
        await self._take_slot()
        try:
            with trio.fail_after(5):
                return await self._connect(url)
        except DIAL_ERRORS:
            self._release_slot()
            raise

    async def _take_slot(self) -> None:
        limiter = self.owner.connect_limiter(self)
        if limiter is not None:
            await limiter.acquire()
            self._slot = limiter

    def _release_slot(self) -> None:
        if self._slot is not None:
            self._slot.release()
            self._slot = None

    async def _reenroll(self, what: str) -> None:
        try:
            self.enrollment = await self.owner.enroll_session(self, retry=False)
        except RegistrationError as exc:
            log.warning("%s: %s", what, exc)

    async def _connect(self, url: str) -> Channel:
        carrier = get_carrier(url)
        if self.local_address and url.startswith("tcp"):
            return await carrier.connect(url, ssl_context=self.settings.ssl_context, local_address=self.local_address)  # type: ignore[call-arg]
        return await carrier.connect(url, ssl_context=self.settings.ssl_context)

    def _candidates(self) -> list[tuple[ProxyInfo, str]]:
        assert self.enrollment is not None
        want = self.settings.transport
        prefer = self.owner.preferred_scheme()
        out: list[tuple[ProxyInfo, str]] = []
        for proxy in self.enrollment.proxies:
            urls = [u for u in proxy.urls if want == "auto" or u.split("://")[0] in (want, want + "s")]
            urls.sort(key=lambda u: (u.split("://")[0] != prefer, SCHEME_ORDER.get(u.split("://")[0], 9)))
            out += [(proxy, u) for u in urls]
        return out

    async def _session(self, channel: Channel, proxy: ProxyInfo) -> None:
        assert self.enrollment is not None
        now = time.time()
        agent_id = self.enrollment.agent_id
        await channel.send(
            Hello(
                role="agent", node_id=agent_id, credential=self.enrollment.credential.encode(),
                proof=self.signer.sign_hello(agent_id, now), ts=now, idc=self.identity.idc,
                carrier=channel.carrier, software=self.settings.software,
            )
        )
        with trio.fail_after(10):
            first = await channel.receive()
        self._release_slot()
        if isinstance(first, ErrorMsg):
            raise StarlingError(first.message, code=EC.of(first.code, EC.P005))
        if not isinstance(first, Welcome):
            raise StarlingError(f"expected welcome, got {type(first).__name__}", code=EC.P003)
        self.owner.statistics["connects"] += 1
        self.channel = channel
        self.proxy_id = proxy.id
        outbox = self._outbox = Outbox(channel, self.journal.flush)
        self._last_rx = trio.current_time()
        self.connected.set()
        if self.chunks is not None:
            self.chunks.link_up()
        self.owner.link_up(self, proxy.id, channel.carrier)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(outbox.run)
            for res in self.journal.unacked():
                await self.send(res)
            nursery.start_soon(self._heartbeat, first.heartbeat or self.settings.heartbeat, nursery.cancel_scope)
            await self._receive_loop(channel)
            nursery.cancel_scope.cancel()

    def _link_down(self, proxy_id: str) -> None:
        if self.channel is not None:
            self.owner.link_down(self, proxy_id)
        self.channel = None
        self.proxy_id = ""
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None
        self.connected = trio.Event()
        if self.chunks is not None:
            self.chunks.link_down()
        if self.streams is not None:
            self.streams.link_down()  # their routes died with the proxy: nobody can reach them

    async def _heartbeat(self, interval: float, scope: trio.CancelScope) -> None:
        seq = 0
        if self.settings.spread_heartbeats:
            await trio.sleep(random.uniform(0, interval))
        while True:
            if not await self.send(Ping(seq=seq, health=self.owner.health(self))):
                scope.cancel()
                return
            seq += 1
            await trio.sleep(interval)
            if trio.current_time() - self._last_rx > 3 * interval:
                log.warning("proxy silent for %.0fs; reconnecting", 3 * interval)
                scope.cancel()
                return

    async def _receive_loop(self, channel: Channel) -> None:
        async for msg in channel:
            self._last_rx = trio.current_time()
            if isinstance(msg, Task):
                await self._on_task(msg)
            elif isinstance(msg, ResultAck):
                self.journal.ack(msg.task_ids)
                self.owner.statistics["acked"] += len(msg.task_ids)
            elif isinstance(msg, (ChunkData, ChunkAck)):
                if self.chunks is not None:
                    self.chunks.deliver(msg)
            elif isinstance(msg, (StreamData, StreamResize, StreamClose, StreamOpen, StreamCredit)):
                if self.streams is not None:
                    self.streams.deliver(msg)
            elif isinstance(msg, Cancel):
                for task_id in msg.task_ids:
                    scope = self.running.get(task_id)
                    if scope is not None:
                        scope.cancel()
            elif isinstance(msg, Drain):
                if self.running:
                    continue  # busy agents are never drained
                log.info("proxy asked us to move: %s", msg.reason)
                self._avoid = set(msg.avoid)
                self._drain_delay = msg.retry_after
                raise _Drained(msg.reason)
            elif isinstance(msg, Pong):
                pass
            elif isinstance(msg, ErrorMsg):
                log.warning("proxy error %s: %s", msg.code, msg.message)
                if msg.code == EC.P005.value:
                    raise StarlingError(msg.message, code=EC.P005)
            else:
                log.debug("ignoring %s from proxy", type(msg).__name__)
        raise StarlingError("proxy closed the connection", code=EC.P007)

    # -- sending ---------------------------------------------------------------------------

    async def send(self, msg: Message) -> bool:
        """Queue ``msg`` on the current connection; False when there is none.

        A queued message is as good as sent (a result lost with a broken link
        is re-sent from the journal). The connection's writer task sends it,
        with everything else queued meanwhile, in one write, after flushing
        the journal (:class:`agent_core._outbox.Outbox`); past
        :data:`agent_core._outbox.OUTBOX_HIGH_WATER` queued messages, the caller waits for a write.
        """
        outbox = self._outbox
        return outbox is not None and await outbox.put(msg)

    # -- tasks ----------------------------------------------------------------------------

    def _trusted_keys(self) -> dict[str, bytes]:
        assert self.enrollment is not None
        return {k: _center_key(v) for k, v in self.enrollment.center_keys.items()}

    async def _on_task(self, task: Task) -> None:
        stats = self.owner.statistics
        settings = self.settings
        if settings.verify_signatures:
            try:
                verify_task_message(
                    self._trusted_keys(), task, time.time(), agent_id=self.agent_id, leeway=settings.clock_leeway,
                    epoch=self.journal.epoch, max_lifetime=settings.max_task_lifetime, max_timeout=settings.max_task_timeout,
                )
            except StarlingError as exc:
                # Not journaled: a forged task must not burn the id of a real one.
                log.warning("refused task %s: %s (%s)", task.task_id, exc, exc.code, extra={"task_id": task.task_id, "job_id": task.job.job_id, "code": exc.code.value})
                stats["refused"] += 1
                refused = Result(task_id=task.task_id, state="failed", code=exc.code.value, message=str(exc), finished=time.time())
                await self.send(self.signer.sign_result(refused))
                return
        is_new, state, result = self.journal.receive(task)
        if not is_new:
            stats["duplicates"] += 1
            await self.send(result if result is not None else Ack(task_id=task.task_id, state=state, at=time.time()))
            return
        stats["tasks"] += 1
        # Start first: if the link breaks while acking, the task still runs and
        # its result waits in the journal.
        assert self._tasks is not None
        self._tasks.start_soon(self.run_task, task)
        await self.send(Ack(task_id=task.task_id, state="received", at=time.time()))

    async def run_task(self, task: Task) -> None:
        """Execute a journaled task once, journal its signed result and send it."""
        job = task.job
        if job.deadline and time.time() > job.deadline:
            result = Result(task_id=task.task_id, state="failed", code=EC.C005.value, message="deadline passed before the task could start", finished=time.time())
        else:
            try:
                result = await self.executor(task, self)
            finally:
                self.running.pop(task.task_id, None)
        result = self.signer.sign_result(result)
        self.journal.finish(result)
        self.owner.task_done(self, task, result)
        if await self.send(result):
            self.owner.statistics["results_sent"] += 1

    async def begin(self, task: Task) -> trio.CancelScope:
        """The executor starts the work: mark it running (journal first), ack
        ``running``, and return the scope a ``cancel`` for it cancels."""
        self.journal.mark_running(task.task_id)
        self.owner.statistics["executions"] += 1
        scope = trio.CancelScope()
        self.running[task.task_id] = scope
        await self.send(Ack(task_id=task.task_id, state="running", at=time.time()))
        return scope

    async def resend_unacked(self, older_than: float) -> int:
        """Re-send results nobody acknowledged for ``older_than`` seconds (a
        proxy or center may have lost them; the receivers are idempotent)."""
        if self.channel is None:
            return 0
        sent = 0
        cutoff = time.time() - older_than
        for res in self.journal.unacked():
            if res.finished < cutoff and await self.send(res):
                sent += 1
        return sent
