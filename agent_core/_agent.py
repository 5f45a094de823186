"""The agent: enrollment, the connection loop, and task handling.

Tasks belong to the agent, not to a connection: a task keeps running when the
link to the proxy drops, and its result waits in the journal until a proxy
(any proxy) carries it to the center and the center acknowledges it.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import msgspec
import trio

from transports import (
    Ack,
    Cancel,
    Catalogue,
    Channel,
    ChunkAck,
    ChunkData,
    ConnectFailed,
    Drain,
    ErrorMsg,
    Hello,
    Output,
    Ping,
    Pong,
    Result,
    ResultAck,
    StarlingError,
    StreamClose,
    StreamData,
    StreamOpen,
    StreamResize,
    Task,
    TransportError,
    Welcome,
    client_context,
    create_private,
    get_carrier,
    leaf_errors,
    private_dir,
    send_if_open,
    write_private,
)
from transports import ErrorCode as EC
from transports._signing import public_key_bytes, sign_hello, sign_result, verify_task_message

from ._chunks import ChunkClient
from ._config import AgentConfig
from ._context import AgentInfo
from ._declare import catalogue_for
from ._executor import execute
from ._health import collect_health
from ._identity import Identity, collect_identity
from ._journal import Journal
from ._kernel import Kernel
from ._keyfile import load_or_create_key
from ._plugins import PluginHost
from ._register import Enrollment, ProxyInfo, RegistrationError, register
from ._residents import ResidentSupervisor
from ._runner import interrupted_outcome
from ._sdk import ActionError
from ._streams import StreamHub
from ._tasklog import log_task_end
from ._throttle import Throttle
from ._version import agent_version, write_running_version

log = logging.getLogger("starling.agent")

VERSION = agent_version()
SCHEME_ORDER = {"quic": 0, "tcp": 1, "https": 2, "http": 3}
#: Housekeeping rounds (30 s each) between re-registrations: about 10 minutes.
REENROLL_ROUNDS = 20


class Agent:
    def __init__(self, config: AgentConfig, *, host: PluginHost | None = None) -> None:
        self.config = config
        self.state_dir = Path(config.state_dir)
        private_dir(self.state_dir)
        self.host = host or PluginHost(disabled=set(config.disabled_plugins))
        self.journal = Journal(create_private(self.state_dir / "journal.db"))
        self.key = load_or_create_key(self.state_dir / "agent-ed25519.pem")
        self.residents = ResidentSupervisor(self.host, self.state_dir, config=config.plugin_config)
        self._reenroll = trio.Event()
        self.kernel = Kernel(self.host, self.state_dir, self.status, on_change=self.plugins_changed)
        self.throttle = Throttle(
            max_load_per_cpu=config.max_load_per_cpu, mem_budget_mb=config.mem_budget_mb, max_concurrent=config.max_concurrent,
            max_cpu_pressure=config.max_cpu_pressure,
        )
        self.identity: Identity | None = None
        self.enrollment: Enrollment | None = None
        self.info = AgentInfo(state_dir=self.state_dir, version=VERSION)
        self._channel: Channel | None = None
        self._proxy_id = ""
        self._running: dict[str, trio.CancelScope] = {}
        self._nursery: trio.Nursery | None = None
        self._ssl: ssl.SSLContext | None = None
        self._last_rx = 0.0
        self._avoid: set[str] = set()
        self._drain_delay = 0.0
        self.connected = trio.Event()
        self.chunks = ChunkClient(self._send, rate=config.file_rate)
        self.streams = StreamHub(self._send)
        self.statistics: dict[str, int] = {"tasks": 0, "duplicates": 0, "connects": 0, "results_sent": 0}

    # -- enrollment -------------------------------------------------------------

    @property
    def _cred_file(self) -> Path:
        return self.state_dir / "enrollment.json"

    def _load_cached(self) -> Enrollment | None:
        try:
            return msgspec.json.decode(self._cred_file.read_bytes(), type=Enrollment)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return None

    async def enroll(self) -> Enrollment:
        """Register (or re-register) with the center; fall back to the cached
        enrollment when no center answers, so a center outage never stops an
        already-enrolled agent from reaching its proxies."""
        assert self.identity is not None
        try:
            catalogue = await self._catalogue()
            enrollment = await register(
                self.config.center, self.config.enroll_token, self.identity, VERSION, self._ssl,
                public_key=public_key_bytes(self.key), catalogue=catalogue,
            )
        except RegistrationError as exc:
            cached = self._load_cached()
            if cached is None or exc.code in (EC.C017, EC.C019):
                raise
            log.warning("registration failed (%s: %s); using the cached enrollment", exc.code, exc)
            return cached
        write_private(self._cred_file, msgspec.json.encode(enrollment))
        return enrollment

    async def _catalogue(self) -> tuple[str, Catalogue] | None:
        """What this agent can run, for the center's policy (built once per set of
        installed plugins, in a child process; see :mod:`agent_core._declare`)."""
        cache = Path(self.config.cache_dir) if self.config.cache_dir else self.state_dir
        try:
            return await trio.to_thread.run_sync(catalogue_for, cache, self.kernel.package_paths())
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            # Still enroll: the center refuses actions it has no declaration for.
            log.error("cannot declare this agent's actions: %s", exc)
            return None

    def plugins_changed(self) -> None:
        """Plugins were installed, removed or rolled back: tell the center soon."""
        self.residents.reload()
        self._reenroll.set()

    # -- main loop -----------------------------------------------------------------

    async def run(self) -> None:
        self._ssl = client_context(self.config.ca_file or None)
        self.identity = collect_identity(
            self.config.identity_file or None, self.config.idc, self.config.tags,
            state_dir=self.state_dir, preferred_cidrs=self.config.preferred_cidrs,
        )
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.enrollment = await self._enroll_with_retry()
            self.info = AgentInfo(
                agent_id=self.enrollment.agent_id,
                hostname=self.identity.hostname,
                idc=self.identity.idc,
                state_dir=self.state_dir,
                version=VERSION,
            )
            self.host.pm.hook.starling_agent_started(agent=self.info)
            await nursery.start(self.residents.run)
            interrupted, pending = self.journal.recover(self._interrupted)
            for res in interrupted:
                log.warning("task %s was running when the agent stopped: %s (%s)", res.task_id, res.message, res.code)
                self.journal.finish(sign_result(self.key, res))
            for task in pending:
                nursery.start_soon(self._run_task, task)
            nursery.start_soon(self._connection_loop)
            nursery.start_soon(self._housekeeping)

    def _interrupted(self, task_id: str) -> tuple[EC, str]:
        """What became of a task that ran when the previous agent stopped."""
        return interrupted_outcome(self.state_dir, task_id)

    async def _enroll_with_retry(self) -> Enrollment:
        delay = self.config.backoff_min
        while True:
            try:
                return await self.enroll()
            except RegistrationError as exc:
                if exc.code in (EC.C017, EC.C019):
                    raise
                log.warning("cannot register yet: %s; retrying in %.1fs", exc, delay)
                await trio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, self.config.backoff_max)

    def _candidates(self) -> list[tuple[ProxyInfo, str]]:
        assert self.enrollment is not None
        want = self.config.transport
        prefer = self._remembered_scheme()
        out: list[tuple[ProxyInfo, str]] = []
        for proxy in self.enrollment.proxies:
            urls = [u for u in proxy.urls if want == "auto" or u.split("://")[0] in (want, want + "s")]
            urls.sort(key=lambda u: (u.split("://")[0] != prefer, SCHEME_ORDER.get(u.split("://")[0], 9)))
            out += [(proxy, u) for u in urls]
        return out

    def _remembered_scheme(self) -> str:
        try:
            return (self.state_dir / "transport").read_text().strip()
        except OSError:
            return ""

    async def _connection_loop(self) -> None:
        delay = self.config.backoff_min
        failures = 0
        while True:
            connected = False
            if self._avoid:
                # Drained: ask the center for the current least-loaded proxies.
                try:
                    self.enrollment = await self.enroll()
                except RegistrationError as exc:
                    log.warning("re-registration after drain failed: %s", exc)
            candidates = self._candidates()
            avoid, self._avoid = self._avoid, set()
            if any(p.id not in avoid for p, _ in candidates):
                candidates = [(p, u) for p, u in candidates if p.id not in avoid]
            for proxy, url in candidates:
                try:
                    with trio.fail_after(5):
                        channel = await get_carrier(url).connect(url, ssl_context=self._ssl)
                except (ConnectFailed, TransportError, trio.TooSlowError) as exc:
                    log.info("cannot reach proxy %s at %s: %s", proxy.id, url, exc)
                    continue
                connected = True
                scheme = url.split("://")[0]
                if self.config.transport == "auto":
                    (self.state_dir / "transport").write_text(scheme)
                try:
                    await self._session(channel, proxy)
                    delay = self._drain_delay or self.config.backoff_min
                    self._drain_delay = 0.0
                except BaseException as raised:
                    leaves = leaf_errors(raised)
                    if any(isinstance(e, (trio.Cancelled, KeyboardInterrupt)) for e in leaves):
                        raise
                    first = leaves[0]
                    if isinstance(first, StarlingError):
                        log.warning("session with proxy %s ended: %s (%s)", proxy.id, first, first.code)
                        if first.code is EC.P005:
                            self.enrollment = await self._enroll_with_retry()
                    else:
                        log.error("session with proxy %s failed", proxy.id, exc_info=first)
                finally:
                    self._channel = None
                    self.connected = trio.Event()
                    self.chunks.link_down()
                    await channel.aclose()
                break
            if not connected:
                failures += 1
                if failures % 5 == 0:
                    # Ask the center again: the proxy list may have changed.
                    try:
                        self.enrollment = await self.enroll()
                    except RegistrationError as exc:
                        log.warning("re-registration failed: %s", exc)
            # Jittered exponential backoff so a proxy restart is never a stampede.
            await trio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, self.config.backoff_max)

    async def _session(self, channel: Channel, proxy: ProxyInfo) -> None:
        assert self.enrollment is not None and self.identity is not None
        now = time.time()
        await channel.send(
            Hello(
                role="agent",
                node_id=self.enrollment.agent_id,
                credential=self.enrollment.credential.encode(),
                proof=sign_hello(self.key, self.enrollment.agent_id, now),
                ts=now,
                idc=self.identity.idc,
                carrier=channel.carrier,
                software=f"starling-agent/{VERSION}",
            )
        )
        with trio.fail_after(10):
            first = await channel.receive()
        if isinstance(first, ErrorMsg):
            raise StarlingError(first.message, code=EC.of(first.code, EC.P005))
        if not isinstance(first, Welcome):
            raise StarlingError(f"expected welcome, got {type(first).__name__}", code=EC.P003)
        self.statistics["connects"] += 1
        log.info("connected to proxy %s over %s", proxy.id, channel.carrier)
        write_running_version(self.state_dir, VERSION)
        self._channel = channel
        self._proxy_id = proxy.id
        self._last_rx = trio.current_time()
        self.connected.set()
        self.chunks.link_up()
        heartbeat = first.heartbeat or self.config.heartbeat
        for res in self.journal.unacked():
            await channel.send(res)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._heartbeat, channel, heartbeat, nursery.cancel_scope)
            await self._receive_loop(channel)
            nursery.cancel_scope.cancel()

    async def _heartbeat(self, channel: Channel, interval: float, scope: trio.CancelScope) -> None:
        seq = 0
        while True:
            health = collect_health(running=len(self._running), throttle=self.throttle.describe(), residents=self.residents.status(), mounts=self.config.health_mounts)
            try:
                await channel.send(Ping(seq=seq, health=health))
            except TransportError:
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
                await self._on_task(channel, msg)
            elif isinstance(msg, ResultAck):
                self.journal.ack(msg.task_ids)
            elif isinstance(msg, (ChunkData, ChunkAck)):
                self.chunks.deliver(msg)
            elif isinstance(msg, (StreamData, StreamResize, StreamClose, StreamOpen)):
                self.streams.deliver(msg)
            elif isinstance(msg, Cancel):
                for task_id in msg.task_ids:
                    scope = self._running.get(task_id)
                    if scope is not None:
                        scope.cancel()
            elif isinstance(msg, Drain):
                if self._running:
                    continue  # busy agents are never drained
                log.info("proxy asked us to move: %s", msg.reason)
                self._avoid = set(msg.avoid)
                self._drain_delay = msg.retry_after
                return
            elif isinstance(msg, Pong):
                pass
            elif isinstance(msg, ErrorMsg):
                log.warning("proxy error %s: %s", msg.code, msg.message)
                if msg.code == EC.P005.value:
                    raise StarlingError(msg.message, code=EC.P005)
            else:
                log.debug("ignoring %s from proxy", type(msg).__name__)
        raise StarlingError("proxy closed the connection", code=EC.P007)

    async def _send(self, msg: Any) -> bool:
        return await send_if_open(self._channel, msg)

    def _trusted_keys(self) -> dict[str, bytes]:
        assert self.enrollment is not None
        return {k: base64.b64decode(v) for k, v in self.enrollment.center_keys.items()}

    async def _on_task(self, channel: Channel, task: Task) -> None:
        if self.config.verify_signatures:
            try:
                assert self.enrollment is not None
                verify_task_message(
                    self._trusted_keys(), task, time.time(), agent_id=self.enrollment.agent_id, leeway=self.config.clock_leeway,
                    epoch=self.journal.epoch, max_lifetime=self.config.max_task_lifetime, max_timeout=self.config.max_task_timeout,
                )
            except StarlingError as exc:
                # Not journaled: a forged task must not burn the id of a real one.
                log.warning("refused task %s: %s (%s)", task.task_id, exc, exc.code, extra={"task_id": task.task_id, "job_id": task.job.job_id, "code": exc.code.value})
                self.statistics["refused"] = self.statistics.get("refused", 0) + 1
                refused = Result(task_id=task.task_id, state="failed", code=exc.code.value, message=str(exc), finished=time.time())
                await channel.send(sign_result(self.key, refused))
                return
        is_new, state, result = self.journal.receive(task)
        if not is_new:
            self.statistics["duplicates"] += 1
            if result is not None:
                await channel.send(result)
            else:
                await channel.send(Ack(task_id=task.task_id, state=state, at=time.time()))
            return
        self.statistics["tasks"] += 1
        # Start first: if the link breaks while acking, the task still runs and
        # its result waits in the journal.
        assert self._nursery is not None
        self._nursery.start_soon(self._run_task, task)
        await self._send(Ack(task_id=task.task_id, state="received", at=time.time()))

    async def _run_task(self, task: Task) -> None:
        job = task.job
        if job.deadline and time.time() > job.deadline:
            result = Result(task_id=task.task_id, state="failed", code=EC.C005.value, message="deadline passed before the task could start", finished=time.time())
        elif self._interactive(job.action):
            # A person is waiting (a terminal), and the session idles most of its life:
            # neither deferred by the throttle nor holding a slot of the concurrency limit.
            result = await self._execute(task)
        else:
            async with self.throttle.limiter:
                try:
                    if deferred := await self.throttle.wait_ok(job.deadline or time.time() + job.timeout):
                        log.info("task %s %s", task.task_id, deferred, extra={"task_id": task.task_id, "job_id": job.job_id})
                except ActionError as exc:
                    result = Result(task_id=task.task_id, state="failed", code=exc.code.value, message=exc.message, finished=time.time())
                else:
                    result = await self._execute(task)
        result = sign_result(self.key, result)
        self.journal.finish(result)
        log_task_end(log, task, result, self.enrollment.agent_id if self.enrollment else "")
        if await self._send(result):
            self.statistics["results_sent"] += 1

    def _interactive(self, action: str) -> bool:
        try:
            return self.host.find_action(action).interactive
        except ActionError:
            return False

    async def _execute(self, task: Task) -> Result:
        self.journal.mark_running(task.task_id)
        await self._send(Ack(task_id=task.task_id, state="running", at=time.time()))
        scope = trio.CancelScope()
        self._running[task.task_id] = scope
        seq = 0

        async def emitter(fd: int, data: bytes) -> None:
            nonlocal seq
            seq += 1
            await self._send(Output(task_id=task.task_id, stream=fd, seq=seq, data=data))

        try:
            return await execute(
                self.host,
                task.task_id,
                task.job,
                agent=self.info,
                config=self.config.plugin_config,
                emitter=emitter,
                cancel_scope=scope,
                max_output=self.config.max_output,
                nice=self.config.nice,
                kernel=self.kernel,
                chunks=self.chunks,
                streams=self.streams,
            )
        finally:
            self._running.pop(task.task_id, None)

    async def _housekeeping(self) -> None:
        """Re-send results nobody acknowledged (a proxy or center may have lost
        them), prune old journal rows, and now and then ask the center for the
        current proxy list: a proxy the center revoked or retired is left."""
        rounds = 0
        while True:
            with trio.move_on_after(30):
                await self._reenroll.wait()
            changed = self._reenroll.is_set()
            if changed:
                self._reenroll = trio.Event()
            rounds += 1
            if self._channel is not None:
                for res in self.journal.unacked():
                    if time.time() - res.finished > 20:
                        await self._send(res)
            self.journal.prune()
            if changed or rounds % REENROLL_ROUNDS == 0:
                try:
                    self.enrollment = await self.enroll()
                except RegistrationError as exc:
                    log.warning("periodic re-registration failed: %s", exc)
                    continue
                current = self._proxy_id
                if current and current not in {p.id for p in self.enrollment.proxies} and self._channel is not None:
                    log.warning("proxy %s is no longer offered by the center; leaving it", current)
                    await self._channel.aclose()

    def status(self) -> dict[str, Any]:
        return {
            "agent_id": self.enrollment.agent_id if self.enrollment else "",
            "connected": self._channel is not None,
            "running": sorted(self._running),
            "journal": self.journal.counts(),
            "residents": self.residents.status(),
            "throttle": self.throttle.describe(),
            # A fresh sample, for live checks (`starling diag HOST`).
            "health": msgspec.to_builtins(collect_health(len(self._running), self.throttle.describe(), mounts=self.config.health_mounts)),
            **self.statistics,
        }


def dump_status(agent: Agent) -> str:
    return json.dumps(agent.status(), indent=2)
