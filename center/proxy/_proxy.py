"""The proxy (channel) role: holds agent connections for one IDC.

It authenticates agents with center-signed credentials, fans each batched
``dispatch`` out to its agents, and carries acks, results and presence back to
the center in batches. It keeps no state that cannot be rebuilt: results are
acknowledged to an agent only after the center stored them, so a proxy that
dies loses nothing (agents re-send from their journals).
"""

from __future__ import annotations

import hmac
import logging
import os
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import trio
from nacl.signing import VerifyKey

from transports import (
    Ack,
    AgentState,
    Balance,
    Cancel,
    Channel,
    ChannelClosed,
    ChunkAck,
    ChunkData,
    ChunkGet,
    ChunkPut,
    ConnectFailed,
    Dispatch,
    DispatchAck,
    Drain,
    EnrolledBatch,
    ErrorCode,
    ErrorMsg,
    Events,
    Hello,
    LoadReport,
    Output,
    Parking,
    Ping,
    Pong,
    Presence,
    Result,
    ResultAck,
    Results,
    Revoke,
    StarlingError,
    StreamClose,
    StreamCredit,
    StreamData,
    StreamOpen,
    StreamResize,
    Task,
    TaskEvent,
    TransportError,
    Welcome,
    get_carrier,
    leaf_errors,
    receive_hello,
    send_if_open,
)
from transports.signing import verify_hello

from .._credentials import CredentialError, verify
from .._metrics import ProxyMetrics
from .._store import new_id
from ._borrow import send_home
from ._enroll import EnrollRelay
from ._streams import FEATURES, StreamRelay
from ._tasklog import log_result

log = logging.getLogger("starling.proxy")

T = TypeVar("T")

MAX_BUFFER = 200_000
RESEND_AFTER = 15.0
MAX_OUTPUTS = 10_000
LOAD_EVERY = 3.0
#: Messages of one batch (a dispatch's tasks, a center's result acks) written to their agents at once.
FANOUT_SENDERS = 64
#: Messages one agent's handler takes in a row before it lets the other tasks run.
_YIELD_EVERY = 64


async def fan_out(items: Sequence[T], send: Callable[[T], Awaitable[object]]) -> None:
    """``send`` every item, :data:`FANOUT_SENDERS` at a time, each to its own agent.

    A few sender tasks, not a task per agent (spawning them cost the proxy more CPU than
    the writes), and not one after the other: an agent whose connection is full holds up
    one sender, not the batch behind it.
    """

    async def sender(todo: Iterator[T]) -> None:
        for item in todo:  # shared by the senders: each takes the next item
            await send(item)

    todo = iter(items)
    async with trio.open_nursery() as nursery:
        for _ in range(min(FANOUT_SENDERS, len(items))):
            nursery.start_soon(sender, todo)


@dataclass(slots=True)
class AgentConn:
    agent_id: str
    channel: Channel
    since: float
    last_task: float = 0.0
    drained: bool = False
    drained_at: float = 0.0
    inflight: set[str] = field(default_factory=set)


class Proxy:
    def __init__(
        self,
        *,
        proxy_id: str,
        idc: str,
        centers: list[str],
        proxy_token: str,
        advertise: list[str],
        client_ssl: ssl.SSLContext | None,
        heartbeat: float = 10.0,
        capacity: int = 20000,
        flush_interval: float = 0.01,
        worker: str = "",
        workers: int = 1,
    ) -> None:
        self.proxy_id = proxy_id
        #: One worker process of a multi-process proxy ("w0", "w1" ...; "" alone):
        #: the center knows this link as ``link_id`` and the host as ``proxy_id``.
        self.worker = worker
        self.workers = workers
        self.link_id = f"{proxy_id}.{worker}" if worker else proxy_id
        self.idc = idc
        self.centers = centers
        self.proxy_token = proxy_token
        self.advertise = advertise
        self.client_ssl = client_ssl
        self.heartbeat = heartbeat
        self.capacity = capacity
        self.flush_interval = flush_interval
        self.agents: dict[str, AgentConn] = {}
        self.center_key: VerifyKey | None = None
        self.revoked: set[str] = set()
        self._key_ready = trio.Event()
        self._links: dict[str, Channel] = {}
        self._events: list[TaskEvent] = []
        self._results: dict[str, Result] = {}  # task_id -> result awaiting the center's ack
        self._unsent: dict[str, Result] = {}  # those of them not sent on any link yet
        self._stale_scan = 0.0  # when the flusher last looked for results sent long ago and not acked
        self._result_owner: dict[str, str] = {}  # task_id -> agent_id
        self._presence: dict[str, AgentState] = {}
        self._outputs: list[Output] = []
        self._wake = trio.Event()
        self._draining = False
        self._nursery: trio.Nursery | None = None
        self._sent: dict[str, float] = {}  # task_id -> when sent on the current link, awaiting ack
        self.stats: dict[str, int] = {"dispatched": 0, "results": 0, "rejected": 0, "duplicates_skipped": 0}
        self.streams = StreamRelay(self._agent_channel, self._nursery_start)
        #: Enrollments of agents without an identity, relayed to a center in batches.
        self.enrolls = EnrollRelay(self._any_link)
        #: Quiet agent connections, waited on by one task (see ``_serve_agent``).
        self.parking = Parking()
        self.metrics = ProxyMetrics(self)  # last: its collector reads the proxy's state at once
        self.files: Any = None  # center.proxy._files.ProxyFiles, set by the server

    def _agent_channel(self, agent_id: str) -> Channel | None:
        conn = self.agents.get(agent_id)
        return conn.channel if conn is not None else None

    # -- center links ------------------------------------------------------------------

    def _nursery_start(self, fn: Any, *args: Any) -> None:
        assert self._nursery is not None
        self._nursery.start_soon(fn, *args)

    async def run_links(self) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for url in self.centers:
                nursery.start_soon(self._link_loop, url)
            nursery.start_soon(self._flusher)
            nursery.start_soon(self._load_reporter)
            nursery.start_soon(self.enrolls.run)
            nursery.start_soon(self.parking.run)

    async def _link_loop(self, url: str) -> None:
        delay = 0.5
        while True:
            try:
                with trio.fail_after(10):
                    channel = await get_carrier(url).connect(url, ssl_context=self.client_ssl)
            except (ConnectFailed, TransportError, trio.TooSlowError) as exc:
                log.info("center %s unreachable: %s", url, exc)
            else:
                try:
                    await self._link_session(url, channel)
                    delay = 0.5
                except Exception as raised:
                    first = leaf_errors(raised)[0]
                    if isinstance(first, StarlingError):
                        log.warning("link to center %s ended: %s (%s)", url, first, first.code, extra={"code": first.code.value})
                    else:
                        log.error("link to center %s failed", url, exc_info=first)
                finally:
                    self._links.pop(url, None)
                    self.streams.link_gone(channel)
                    self.enrolls.link_gone(channel)
                    self.metrics.error(ErrorCode.P007.value)
                    if self.files is not None:
                        self.files.link_down()
                    # Whatever that center had not acknowledged goes out again on
                    # another link (another center shares the database).
                    self._sent.clear()
                    self._unsent.update(self._results)
                    self._wake.set()
                    await channel.aclose()
            await trio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 15)

    async def _link_session(self, url: str, channel: Channel) -> None:
        await channel.send(Hello(
            role="proxy", node_id=self.proxy_id, credential=self.proxy_token.encode(), idc=self.idc, worker=self.worker,
            features=list(FEATURES),
        ))
        with trio.fail_after(10):
            welcome = await channel.receive()
        if isinstance(welcome, ErrorMsg):
            raise StarlingError(welcome.message, code=ErrorCode.P005)
        if not isinstance(welcome, Welcome):
            raise StarlingError("expected welcome from center", code=ErrorCode.P003)
        self.center_key = VerifyKey(welcome.center_key)
        self.revoked = set(welcome.revoked)
        self._key_ready.set()
        self._links[url] = channel
        self.enrolls.link_up()
        log.info("linked to center %s", url)
        # Tell this center everything we hold, and re-send results it has not acked.
        now = time.time()
        await channel.send(
            Presence(agents=[AgentState(agent_id=a, online=True, at=now, carrier=c.channel.carrier) for a, c in self.agents.items()], full=True)
        )
        await channel.send(self._load_report())
        self._sent.clear()
        if self._results:
            pending = list(self._results.values())
            for i in range(0, len(pending), 1000):
                await channel.send(Results(results=pending[i : i + 1000]))
            self._sent.update((r.task_id, time.time()) for r in pending)
            for r in pending:  # not those that came in while these went out
                self._unsent.pop(r.task_id, None)
        async for msg in channel:
            await self._on_center_message(channel, msg)
        raise StarlingError("center closed the link", code=ErrorCode.P007)

    def _primary_link(self) -> Channel | None:
        """The link to the first linked center in configuration order. Only its requests to
        send borrowed agents home are followed: each center counts the room it filled by
        its own requests only, so two centers asking in turn overfilled the home IDC (seen:
        12 sent home by one center, 9 more by the other 3 s later, into a room of 12)."""
        for url in self.centers:
            channel = self._links.get(url)
            if channel is not None:
                return channel
        return None

    async def _on_center_message(self, channel: Channel, msg: Any) -> None:
        if isinstance(msg, Dispatch):
            await self._on_dispatch(channel, msg)
        elif isinstance(msg, ResultAck):
            by_agent: dict[str, list[str]] = {}
            for task_id in msg.task_ids:
                self._results.pop(task_id, None)
                self._unsent.pop(task_id, None)
                self._sent.pop(task_id, None)
                owner = self._result_owner.pop(task_id, None)
                if owner is not None:
                    by_agent.setdefault(owner, []).append(task_id)
            await fan_out(list(by_agent.items()), self._ack_agent)
        elif isinstance(msg, Cancel):
            targets: dict[str, list[str]] = {}
            if len(msg.agent_ids) == len(msg.task_ids):
                for task_id, agent_id in zip(msg.task_ids, msg.agent_ids, strict=True):
                    targets.setdefault(agent_id, []).append(task_id)
            else:  # an older center: find the holders among our connections
                wanted = set(msg.task_ids)
                for held in self.agents.values():
                    mine = sorted(wanted & held.inflight)
                    if mine:
                        targets[held.agent_id] = mine
            for agent_id, ids in targets.items():
                conn = self.agents.get(agent_id)
                if conn is not None:
                    await self._send_agent(conn, Cancel(task_ids=ids, reason=msg.reason))
        elif isinstance(msg, Revoke):
            self.revoked |= set(msg.agent_ids)
            self.revoked -= set(msg.restored)
            for agent_id in msg.agent_ids:
                conn = self.agents.get(agent_id)
                if conn is not None:
                    await self._send_agent(conn, ErrorMsg(code=ErrorCode.P005.value, message="credential revoked"))
                    await conn.channel.aclose()
        elif isinstance(msg, EnrolledBatch):
            self.enrolls.answered(msg)
        elif isinstance(msg, Balance) and msg.agents:
            if channel is self._primary_link():
                await send_home(self, msg.agents)
        elif isinstance(msg, Balance):
            excess = len(self.agents) - msg.target
            if excess > 0 and not self._draining:
                self._draining = True
                self._nursery_start(self._drain_paced, excess, max(msg.rate, 1))
        elif isinstance(msg, (ChunkData, ChunkAck)) and self.files is not None:
            self.files.deliver(msg)
        elif isinstance(msg, (StreamOpen, StreamData, StreamResize, StreamClose, StreamCredit)):
            await self.streams.from_center(channel, msg)
        elif isinstance(msg, Pong):
            pass

    async def _ack_agent(self, item: tuple[str, list[str]]) -> None:
        conn = self.agents.get(item[0])
        if conn is not None:
            await self._send_agent(conn, ResultAck(task_ids=item[1]))

    async def _drain_paced(self, count: int, rate: int) -> None:
        try:
            moved = 0
            while moved < count:
                batch = await self.drain(min(rate, count - moved), reason="rebalancing the IDC")
                if not batch:
                    break
                moved += batch
                await trio.sleep(1)
            log.info("drained %d agents for balance", moved)
        finally:
            self._draining = False

    async def _on_dispatch(self, channel: Channel, msg: Dispatch) -> None:
        rejected: list[TaskEvent] = []
        delivered: list[TaskEvent] = []
        skipped = 0
        now = time.time()

        async def send_one(ref: Any) -> None:
            nonlocal skipped
            conn = self.agents.get(ref.agent_id)
            if conn is None:
                rejected.append(TaskEvent(ref.task_id, "failed", now, ErrorCode.P001.value, ErrorCode.P001.meaning))
                return
            if ref.task_id in conn.inflight:
                # Sent again by a center that has not heard the agent's ack yet, to the
                # connection that already carried it: TCP delivers it or the connection
                # ends (and the agent's next login fetches what it lacks). Writing it again
                # would only make the agent answer twice; it counts as delivered now.
                skipped += 1
                delivered.append(TaskEvent(ref.task_id, "delivered", time.time()))
                return
            ok = await self._send_agent(conn, Task(task_id=ref.task_id, job=msg.job, proof=ref.proof, index=ref.index))
            if ok:
                conn.inflight.add(ref.task_id)
                conn.last_task = now
                delivered.append(TaskEvent(ref.task_id, "delivered", time.time()))
            else:
                rejected.append(TaskEvent(ref.task_id, "failed", now, ErrorCode.P001.value, ErrorCode.P001.meaning))

        await fan_out(msg.tasks, send_one)
        self.stats["dispatched"] += len(delivered) - skipped
        self.stats["duplicates_skipped"] += skipped
        self.stats["rejected"] += len(rejected)
        self.metrics.fanout_seconds.observe(time.time() - now)
        self.metrics.error(ErrorCode.P001.value, len(rejected))
        await channel.send(DispatchAck(dispatch_id=msg.dispatch_id, rejected=rejected))
        self._events.extend(delivered)
        self._wake.set()

    def _any_link(self) -> Channel | None:
        for ch in self._links.values():
            return ch
        return None

    async def _flusher(self) -> None:
        """Batch events, results and presence to the center every flush interval."""
        while True:
            with trio.move_on_after(RESEND_AFTER):
                await self._wake.wait()
            self._wake = trio.Event()
            await trio.sleep(self.flush_interval)
            link = self._any_link()
            if link is None:
                # Keep what we have; the next link re-sends it. Drop only events
                # (they are advisory) when the buffer grows without bound.
                if len(self._events) > MAX_BUFFER:
                    del self._events[: len(self._events) - MAX_BUFFER]
                continue
            events, self._events = self._events, []
            presence, self._presence = list(self._presence.values()), {}
            outputs, self._outputs = self._outputs, []
            # New results, and (looked for once a second, not at every flush) any
            # the center has not acknowledged for a while (it may have failed to store them).
            unsent, self._unsent = self._unsent, {}
            fresh = list(unsent.values())
            now = time.time()
            if now - self._stale_scan >= 1.0:
                self._stale_scan = now
                stale = now - RESEND_AFTER
                fresh += [r for r in self._results.values() if r.task_id not in unsent and self._sent.get(r.task_id, 0.0) < stale]
            batch: list[Any] = []
            if presence:
                batch.append(Presence(agents=presence))
            if events:
                batch.append(Events(events=events))
            batch.extend(outputs)
            batch.extend(Results(results=fresh[i : i + 1000]) for i in range(0, len(fresh), 1000))
            try:
                await link.send_many(batch)  # one write per 64 KiB, not one per message
                now = time.time()
                self._sent.update((r.task_id, now) for r in fresh)
            except TransportError:
                self._events = events + self._events
                for p in presence:
                    self._presence.setdefault(p.agent_id, p)
                self._unsent.update((r.task_id, r) for r in fresh if r.task_id in self._results)

    def _load_report(self) -> LoadReport:
        import psutil

        return LoadReport(
            proxy_id=self.link_id, idc=self.idc, connections=len(self.agents), capacity=self.capacity,
            load1=os.getloadavg()[0], cpus=os.cpu_count() or 1, rss=psutil.Process().memory_info().rss, urls=self.advertise,
        )

    async def _load_reporter(self) -> None:
        while True:
            await trio.sleep(LOAD_EVERY)
            report = self._load_report()
            # Every center balances the IDC, so every center hears the load.
            for link in list(self._links.values()):
                try:
                    await link.send(report)
                except TransportError:
                    pass
            if len(self.agents) > self.capacity and not self._draining:
                self._draining = True
                self._nursery_start(self._drain_paced, len(self.agents) - self.capacity, 100)

    def avoid_ids(self) -> list[str]:
        """What a drained agent must avoid: this proxy, every worker of it
        (they share one port, so moving to a sibling would not move at all)."""
        return [self.proxy_id] + [f"{self.proxy_id}.w{i}" for i in range(self.workers if self.worker else 0)]

    async def drain(self, count: int, reason: str = "proxy over capacity") -> int:
        """Ask up to ``count`` idle agents (no task in flight, idle longest) to move."""
        idle = sorted((c for c in self.agents.values() if not c.inflight and not c.drained), key=lambda c: c.last_task or c.since)
        moved = 0
        for conn in idle[:count]:
            if await self._send_agent(conn, Drain(reason=reason, retry_after=1.0, avoid=self.avoid_ids())):
                conn.drained = True
                moved += 1
        return moved

    # -- agents ------------------------------------------------------------------------------

    async def _send_agent(self, conn: AgentConn, msg: Any) -> bool:
        return await send_if_open(conn.channel, msg)

    def _queue_presence(self, state: AgentState) -> None:
        self._presence[state.agent_id] = state
        self._wake.set()

    async def _login(self, channel: Channel) -> str | None:
        """Check the agent's hello: its id when the credential and the proof
        hold, else None (the agent was told why). Apart from the session so
        that the hello and its claims are not kept for the connection's life."""
        try:
            hello = await receive_hello(channel, "agent", enroll=self.enrolls.enroll)
        finally:
            issued = self.enrolls.take_issued(channel)
        if hello is None:
            return None
        with trio.move_on_after(5):
            await self._key_ready.wait()
        if self.center_key is None:
            await channel.send(ErrorMsg(code=ErrorCode.P007.value, message="proxy not linked to a center yet"))
            return None
        try:
            credential = hello.credential.decode(errors="replace")
            if issued is not None and issued.agent_id == hello.node_id and hmac.compare_digest(issued.credential, credential):
                pubkey = issued.public_key  # the center issued it on this very connection a moment ago
            else:
                pubkey = verify(self.center_key, credential, hello.node_id).pubkey
            if hello.node_id in self.revoked:
                raise CredentialError("credential revoked")
            if not pubkey:
                raise CredentialError("credential is not bound to an agent key (enroll again)")
            try:
                verify_hello(pubkey, hello.node_id, hello.ts, hello.proof, time.time())
            except StarlingError as exc:
                raise CredentialError(f"no proof of the agent's key: {exc}") from exc
        except CredentialError as exc:
            log.warning("agent %s refused: %s", hello.node_id, exc, extra={"agent_id": hello.node_id, "code": ErrorCode.P005.value})
            self.metrics.error(ErrorCode.P005.value)
            await channel.send(ErrorMsg(code=ErrorCode.P005.value, message=str(exc)))
            return None
        return str(hello.node_id)

    async def agent_session(self, channel: Channel) -> None:
        agent_id = await self._login(channel)
        if agent_id is None:
            return
        channel.mark_authenticated()
        old = self.agents.get(agent_id)
        if old is not None:
            await old.channel.aclose()
        conn = AgentConn(agent_id=agent_id, channel=channel, since=time.time())
        self.agents[agent_id] = conn
        await channel.send(Welcome(session=new_id("s"), heartbeat=self.heartbeat, server_time=time.time()))
        self._queue_presence(AgentState(agent_id=agent_id, online=True, at=time.time(), carrier=channel.carrier, peer=channel.peer))
        await self._serve_agent(conn, channel)

    async def _serve_agent(self, conn: AgentConn, channel: Channel) -> None:
        """Handle what the agent sends. When nothing more is there, park the connection
        (``self.parking``: no task holds a quiet agent) and return; the lot runs this
        again when the agent speaks. Carriers that cannot park wait here instead."""
        resume = partial(self._serve_agent, conn)
        ended = True
        handled = 0
        try:
            while (msg := await self.parking.next_message(channel, resume)) is not None:
                await self._on_agent_message(conn, msg)
                del msg  # a quiet connection keeps no message (a ping's health) alive
                handled += 1
                if handled % _YIELD_EVERY == 0:
                    await trio.lowlevel.checkpoint()  # a flood from one agent does not starve the others
            ended = False  # parked: the lot runs this again when the agent speaks
        except ChannelClosed:
            pass
        finally:
            if ended and self.agents.get(conn.agent_id) is conn:
                del self.agents[conn.agent_id]
                self.streams.agent_gone(conn.agent_id)
                self._queue_presence(AgentState(agent_id=conn.agent_id, online=False, at=time.time(), code=ErrorCode.E001.value))

    async def _on_agent_message(self, conn: AgentConn, msg: Any) -> None:
        if isinstance(msg, Ping):
            await self._send_agent(conn, Pong(seq=msg.seq))
            self._queue_presence(AgentState(agent_id=conn.agent_id, online=True, at=time.time(), health=msg.health, carrier=conn.channel.carrier))
        elif isinstance(msg, Ack):
            self._events.append(TaskEvent(msg.task_id, msg.state, msg.at or time.time()))
            self._wake.set()
        elif isinstance(msg, Result):
            conn.inflight.discard(msg.task_id)
            self._results[msg.task_id] = msg
            self._unsent[msg.task_id] = msg
            self._sent.pop(msg.task_id, None)
            self._result_owner[msg.task_id] = conn.agent_id
            self.stats["results"] += 1
            log_result(log, self.proxy_id, conn.agent_id, msg)
            self._wake.set()
        elif isinstance(msg, Output):
            # Live output of a streaming task: best effort (the full, capped
            # output also comes with the result), bounded so a chatty task
            # cannot grow the proxy.
            if len(self._outputs) < MAX_OUTPUTS:
                self._outputs.append(msg)
                self._wake.set()
        elif isinstance(msg, (ChunkGet, ChunkPut)) and self.files is not None:
            self._nursery_start(self.files.serve_agent, conn, msg)
        elif isinstance(msg, (StreamOpen, StreamData, StreamClose)):
            self.streams.from_agent(conn.agent_id, msg)
        elif isinstance(msg, ErrorMsg):
            log.warning("agent %s reports %s: %s", conn.agent_id, msg.code, msg.message)
