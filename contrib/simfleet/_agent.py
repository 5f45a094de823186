"""One simulated agent identity: the real protocol on one real connection.

It behaves like :class:`agent_core._agent.Agent` on the wire — hello with its
credential, heartbeats with a small health summary, task → journal → ack
(received) → ack (running) → result, result_ack, cancel, drain, jittered
exponential reconnects and re-sending unacknowledged results — but executes in
process (:mod:`._executor`) and shares its journal, TLS context and task
nursery with every other identity of the fleet, so that an idle identity costs
a few kilobytes plus its connection.
"""

from __future__ import annotations

import base64
import logging
import random
import time
from typing import TYPE_CHECKING, Any

import trio

from agent_core.host import Enrollment, Identity, ProxyInfo, RegistrationError
from transports import (
    Ack,
    Cancel,
    Channel,
    ChunkAck,
    ChunkData,
    ConnectFailed,
    Drain,
    ErrorMsg,
    Health,
    Hello,
    Ping,
    Pong,
    Result,
    ResultAck,
    StarlingError,
    Task,
    TransportError,
    Welcome,
    get_carrier,
    leaf_errors,
    send_if_open,
)
from transports import ErrorCode as EC
from transports.signing import verify_task_message

from ._executor import execute

if TYPE_CHECKING:
    from ._fleet import SimFleet

log = logging.getLogger("starling.simfleet")

SOFTWARE = "starling-simfleet/0.1.0"


class _Drained(Exception):
    """The proxy asked this identity to move."""

    def __init__(self, proxy_id: str, retry_after: float) -> None:
        super().__init__(proxy_id)
        self.proxy_id = proxy_id
        self.retry_after = retry_after


class SimAgent:
    """One identity. ``__slots__`` keep the per-identity footprint small.

    :param fleet: the owning fleet (journal, TLS context, limits, statistics).
    :param identity: the identity registered with the center (its ``sn`` is
        ``<prefix>-<i>``).
    """

    __slots__ = ("fleet", "identity", "enrollment", "channel", "proxy_id", "running", "_last_rx", "chunks")

    def __init__(self, fleet: SimFleet, identity: Identity) -> None:
        self.fleet = fleet
        self.identity = identity
        self.enrollment: Enrollment | None = None
        self.channel: Channel | None = None
        self.proxy_id = ""
        self.running: dict[str, trio.CancelScope] | None = None
        self._last_rx = 0.0
        self.chunks: Any = None  # the file channel, made on the first file task

    def chunk_client(self) -> Any:
        if self.chunks is None:
            from ._files import new_client

            self.chunks = new_client(self)
        return self.chunks

    @property
    def agent_id(self) -> str:
        return self.enrollment.agent_id if self.enrollment else ""

    # -- the connection loop ------------------------------------------------------------

    async def run(self) -> None:
        """Enroll, then hold one connection for ever (reconnecting as needed)."""
        fleet = self.fleet
        if self.enrollment is None:
            self.enrollment = await fleet.enroll(self.identity)
        delay = fleet.backoff_min
        failures = 0
        avoid = ""
        while True:
            connected = False
            began = trio.current_time()
            for proxy, url in self._candidates(avoid):
                try:
                    with trio.fail_after(5):
                        channel = await get_carrier(url).connect(url, ssl_context=fleet.ssl_context)
                except (ConnectFailed, TransportError, trio.TooSlowError, OSError) as exc:
                    log.debug("%s: cannot reach %s at %s: %s", self.identity.sn, proxy.id, url, exc)
                    continue
                connected = True
                avoid = ""
                try:
                    await self._session(channel, proxy)
                except BaseException as raised:
                    leaves = leaf_errors(raised)
                    if any(isinstance(e, (trio.Cancelled, KeyboardInterrupt)) for e in leaves):
                        raise
                    exc = leaves[0]
                    if isinstance(exc, _Drained):
                        avoid = exc.proxy_id
                        fleet.stats["drained"] += 1
                    elif isinstance(exc, StarlingError) and exc.code is EC.P005:
                        self.enrollment = await fleet.enroll(self.identity, fresh=True)
                    elif not isinstance(exc, (TransportError, StarlingError, trio.TooSlowError)):
                        log.error("%s: session with %s failed", self.identity.sn, proxy.id, exc_info=exc)
                finally:
                    self._disconnected()
                    with trio.CancelScope(shield=True):
                        await channel.aclose()
                break
            if avoid:
                # Drained: ask the center for the current least-loaded list and
                # come back after a jittered pause, elsewhere.
                self.enrollment = await fleet.enroll(self.identity, fresh=True)
                await trio.sleep(random.uniform(0.1, 1.0))
                delay = fleet.backoff_min
                continue
            if connected and trio.current_time() - began > 10:
                delay = fleet.backoff_min
            if not connected:
                failures += 1
                if failures % 3 == 0:
                    # The proxy list may have changed: ask the center again.
                    try:
                        self.enrollment = await fleet.enroll(self.identity, fresh=True, retry=False)
                    except RegistrationError as exc:
                        log.debug("%s: re-registration failed: %s", self.identity.sn, exc)
            # Jittered exponential backoff so a proxy restart is never a stampede.
            await trio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, fleet.backoff_max)

    def _candidates(self, avoid: str) -> list[tuple[ProxyInfo, str]]:
        assert self.enrollment is not None
        want = self.fleet.transport
        out: list[tuple[ProxyInfo, str]] = []
        later: list[tuple[ProxyInfo, str]] = []
        for proxy in self.enrollment.proxies:
            for url in proxy.urls:
                if url.split("://")[0] in (want, want + "s"):
                    (later if proxy.id == avoid else out).append((proxy, url))
        return out + later

    def _disconnected(self) -> None:
        if self.channel is not None:
            self.fleet.on_disconnect(self.proxy_id)
        if self.chunks is not None:
            self.chunks.link_down()
        self.channel = None
        self.proxy_id = ""

    async def _session(self, channel: Channel, proxy: ProxyInfo) -> None:
        assert self.enrollment is not None
        fleet = self.fleet
        await channel.send(
            Hello(
                role="agent", node_id=self.enrollment.agent_id, credential=self.enrollment.credential.encode(),
                idc=self.identity.idc, carrier=channel.carrier, software=SOFTWARE,
            )
        )
        with trio.fail_after(10):
            first = await channel.receive()
        if isinstance(first, ErrorMsg):
            code = EC(first.code) if first.code in EC.__members__ else EC.P005
            raise StarlingError(first.message, code=code)
        if not isinstance(first, Welcome):
            raise StarlingError(f"expected welcome, got {type(first).__name__}", code=EC.P003)
        self.channel = channel
        self.proxy_id = proxy.id
        self._last_rx = trio.current_time()
        fleet.on_connect(proxy.id)
        if self.chunks is not None:
            self.chunks.link_up()
        for res in fleet.journal.unacked(self.agent_id):
            await channel.send(res)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._heartbeat, channel, first.heartbeat or fleet.heartbeat, nursery.cancel_scope)
            await self._receive_loop(channel, proxy)
            nursery.cancel_scope.cancel()

    async def _heartbeat(self, channel: Channel, interval: float, scope: trio.CancelScope) -> None:
        seq = 0
        # Spread the fleet's heartbeats over the interval instead of in lockstep.
        await trio.sleep(random.uniform(0, interval))
        while True:
            try:
                await channel.send(Ping(seq=seq, health=self._health()))
            except TransportError:
                scope.cancel()
                return
            seq += 1
            await trio.sleep(interval)
            if trio.current_time() - self._last_rx > 3 * interval:
                log.info("%s: proxy silent for %.0fs; reconnecting", self.identity.sn, 3 * interval)
                scope.cancel()
                return

    def _health(self) -> Health:
        return Health(load1=0.05, cpus=4, mem_total=8 << 30, mem_available=6 << 30,
                      uptime=time.time() - self.fleet.started, running=len(self.running or ()))

    async def _receive_loop(self, channel: Channel, proxy: ProxyInfo) -> None:
        journal = self.fleet.journal
        while True:
            msg = await channel.receive()
            self._last_rx = trio.current_time()
            if isinstance(msg, Task):
                await self._on_task(channel, msg)
            elif isinstance(msg, ResultAck):
                journal.ack(msg.task_ids)
                self.fleet.stats["acked"] += len(msg.task_ids)
            elif isinstance(msg, Cancel):
                for task_id in msg.task_ids:
                    scope = (self.running or {}).get(task_id)
                    if scope is not None:
                        scope.cancel()
            elif isinstance(msg, Drain):
                if self.running:
                    continue  # busy identities are never drained, like real agents
                raise _Drained(proxy.id, msg.retry_after)
            elif isinstance(msg, ErrorMsg):
                if msg.code == EC.P005.value:
                    raise StarlingError(msg.message, code=EC.P005)
                log.info("%s: proxy error %s: %s", self.identity.sn, msg.code, msg.message)
            elif isinstance(msg, (ChunkData, ChunkAck)):
                if self.chunks is not None:
                    self.chunks.deliver(msg)
            elif isinstance(msg, Pong):
                pass

    # -- tasks -----------------------------------------------------------------------------

    async def _on_task(self, channel: Channel, task: Task) -> None:
        fleet = self.fleet
        if fleet.verify_signatures and self.enrollment is not None:
            try:
                keys = {k: base64.b64decode(v) for k, v in self.enrollment.center_keys.items()}
                verify_task_message(keys, task, time.time(), agent_id=self.agent_id, leeway=fleet.clock_leeway,
                                    epoch=fleet.journal.epoch)
            except StarlingError as exc:
                # Not journaled, as in the agent: a forged task must not burn a real id.
                fleet.stats["refused"] += 1
                await channel.send(Result(task_id=task.task_id, state="failed", code=exc.code.value,
                                          message=str(exc), finished=time.time()))
                return
        is_new, state, result = fleet.journal.receive(self.agent_id, task)
        if not is_new:
            fleet.stats["duplicates"] += 1
            if result is not None:
                await channel.send(result)
            else:
                await channel.send(Ack(task_id=task.task_id, state=state, at=time.time()))
            return
        fleet.stats["tasks"] += 1
        # Start it before acking: if the ack cannot be sent (the link just
        # broke), the recorded task must still run, or it would sit in the
        # journal as "received" until a restart.
        fleet.nursery.start_soon(self.run_task, task)
        await channel.send(Ack(task_id=task.task_id, state="received", at=time.time()))

    async def run_task(self, task: Task) -> None:
        """Execute a recorded task once and report its result (tasks belong to
        the identity, not to a connection: a link drop does not stop them)."""
        fleet = self.fleet
        job = task.job
        if job.deadline and time.time() > job.deadline:
            result = Result(task_id=task.task_id, state="failed", code=EC.C005.value,
                            message="deadline passed before the task could start", finished=time.time())
        else:
            fleet.journal.start(self.agent_id, task.task_id)
            fleet.stats["executions"] += 1
            await self.send(Ack(task_id=task.task_id, state="running", at=time.time()))
            scope = trio.CancelScope()
            if self.running is None:
                self.running = {}
            self.running[task.task_id] = scope
            try:
                if job.action == "file.install":
                    from ._files import install

                    result = await install(self, task.task_id, job, scope)
                else:
                    result = await execute(task.task_id, job, scope)
            finally:
                self.running.pop(task.task_id, None)
                if not self.running:
                    self.running = None
        fleet.journal.finish(result)
        if await self.send(result):
            fleet.stats["results_sent"] += 1

    async def send(self, msg: Any) -> bool:
        """Send on the current connection, if any; False when not sent."""
        return await send_if_open(self.channel, msg)
