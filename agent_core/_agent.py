"""The agent: enrollment, the connection loop, and task handling.

Tasks belong to the agent, not to a connection: a task keeps running when the
link to the proxy drops, and its result waits in the journal until a proxy
(any proxy) carries it to the center and the center acknowledges it.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import trio

from transports import ErrorCode as EC
from transports import (
    Health,
    Output,
    Result,
    Task,
    client_context,
    create_private,
    private_dir,
    write_private,
)
from transports.signing import public_key_bytes, sign_result
from transports.streamauth import open_session_key

from ._chunks import ChunkClient
from ._config import AgentConfig
from ._context import AgentInfo
from ._declare import run_catalogue_child
from ._health import collect_health
from ._identity import Identity, collect_identity
from ._journal import Journal
from ._kernel import Kernel
from ._keyfile import load_or_create_key
from ._plugins import PluginHost
from ._register import ENROLL_REFUSED, Enrollment, RegistrationError, enroll_request, register
from ._residents import ResidentSupervisor
from ._runner import interrupted_outcome
from ._sdk import ActionError
from ._session import AgentSession, KeySigner, SessionOwner, SessionSettings
from ._streams import StreamHub
from ._tasklog import log_task_end
from ._throttle import Throttle
from ._version import agent_version, write_running_version

log = logging.getLogger("starling.agent")

VERSION = agent_version()
#: Housekeeping rounds (30 s each) between re-registrations: about 10 minutes.
REENROLL_ROUNDS = 20


class Agent(SessionOwner):
    """The real agent: one :class:`AgentSession` over its own journal, its
    Ed25519 key and the plugin kernel, plus residents, throttling, periodic
    re-registration and re-sending."""

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
        self.info = AgentInfo(state_dir=self.state_dir, version=VERSION)
        self.session: AgentSession | None = None
        self._ssl: ssl.SSLContext | None = None
        self.chunks = ChunkClient(self._send, rate=config.file_rate)
        self.streams = StreamHub(self._send, unseal=lambda sealed: open_session_key(sealed, self.key))
        self.statistics: Counter[str] = Counter(tasks=0, duplicates=0, connects=0, results_sent=0)

    @property
    def enrollment(self) -> Enrollment | None:
        return self.session.enrollment if self.session is not None else None

    async def _send(self, msg: Any) -> bool:
        return self.session is not None and await self.session.send(msg)

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
            enrollment = await self._enroll_through_proxy(catalogue) if self.config.enroll_proxies else None
            if enrollment is None or enrollment.catalogue_wanted:
                # Over HTTPS: no proxy carried it, or the center wants the catalogue (larger than a login frame).
                enrollment = await register(
                    self.config.center, self.config.enroll_token, self.identity, VERSION, self._ssl,
                    public_key=public_key_bytes(self.key), catalogue=catalogue,
                )
        except RegistrationError as exc:
            cached = self._load_cached()
            if cached is None or exc.code in (EC.C017, EC.C019, EC.C042):
                raise
            log.warning("registration failed (%s: %s); using the cached enrollment", exc.code, exc)
            return cached
        write_private(self._cred_file, msgspec.json.encode(enrollment))
        return enrollment

    async def _enroll_through_proxy(self, catalogue: tuple[str, msgspec.Raw] | None) -> Enrollment | None:
        """Enroll through a configured proxy (``enroll_proxies``) on the connection
        the session then logs in on; None when no proxy carried it (HTTPS next)."""
        assert self.identity is not None and self.session is not None
        if self.session.channel is not None:
            return None  # connected already (a re-registration for new plugins): HTTPS, no second connection
        request = enroll_request(self.config.enroll_token, self.identity, VERSION, self.key, catalogue[0] if catalogue else "")
        try:
            return await self.session.enroll_through(self.config.enroll_proxies, request)
        except RegistrationError as exc:
            if exc.code in ENROLL_REFUSED:
                raise
            log.warning("enrollment through a proxy failed (%s: %s); registering over HTTPS", exc.code, exc)
            return None

    async def _catalogue(self) -> tuple[str, msgspec.Raw] | None:
        """What this agent can run, for the center's policy (built once per set of
        installed plugins, in a child process; see :mod:`agent_core._declare`)."""
        cache = Path(self.config.cache_dir) if self.config.cache_dir else self.state_dir
        try:
            return await run_catalogue_child(cache, self.kernel.package_paths())
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            # Still enroll: the center refuses actions it has no declaration for.
            log.error("cannot declare this agent's actions: %s", exc)
            return None

    async def enroll_session(self, session: AgentSession, *, retry: bool) -> Enrollment:
        return await (self._enroll_with_retry() if retry else self.enroll())

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
        config = self.config
        session = self.session = AgentSession(
            self.identity, journal=self.journal, executor=self._execute, signer=KeySigner(self.key), owner=self,
            settings=SessionSettings(
                transport=config.transport, heartbeat=config.heartbeat, backoff_min=config.backoff_min,
                backoff_max=config.backoff_max, verify_signatures=config.verify_signatures,
                clock_leeway=config.clock_leeway, max_task_lifetime=config.max_task_lifetime,
                max_task_timeout=config.max_task_timeout, software=f"starling-agent/{VERSION}", ssl_context=self._ssl,
            ),
        )
        session.chunks = self.chunks
        session.streams = self.streams
        async with trio.open_nursery() as nursery:
            enrollment = session.enrollment = await self._enroll_with_retry()
            self.info = AgentInfo(
                agent_id=enrollment.agent_id,
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
                nursery.start_soon(session.run_task, task)
            nursery.start_soon(session.run, nursery)
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

    def preferred_scheme(self) -> str:
        try:
            return (self.state_dir / "transport").read_text().strip()
        except OSError:
            return ""

    def remember_scheme(self, scheme: str) -> None:
        (self.state_dir / "transport").write_text(scheme)

    def link_up(self, session: AgentSession, proxy_id: str, carrier: str) -> None:
        log.info("connected to proxy %s over %s", proxy_id, carrier)
        write_running_version(self.state_dir, VERSION)

    def health(self, session: AgentSession) -> Health:
        return collect_health(running=len(session.running), throttle=self.throttle.describe(), residents=self.residents.status(), mounts=self.config.health_mounts)

    def task_done(self, session: AgentSession, task: Task, result: Result) -> None:
        log_task_end(log, task, result, session.agent_id)

    async def _execute(self, task: Task, session: AgentSession) -> Result:
        """The executor: throttle, then the plugin kernel."""
        job = task.job
        if self._interactive(job.action):
            # A person is waiting (a terminal), and the session idles most of its life:
            # neither deferred by the throttle nor holding a slot of the concurrency limit.
            return await self._run_action(task, session)
        async with self.throttle.limiter:
            try:
                if deferred := await self.throttle.wait_ok(job.deadline or time.time() + job.timeout):
                    log.info("task %s %s", task.task_id, deferred, extra={"task_id": task.task_id, "job_id": job.job_id})
            except ActionError as exc:
                return Result(task_id=task.task_id, state="failed", code=exc.code.value, message=exc.message, finished=time.time())
            return await self._run_action(task, session)

    def _interactive(self, action: str) -> bool:
        try:
            return self.host.find_action(action).interactive
        except ActionError:
            return False

    async def _run_action(self, task: Task, session: AgentSession) -> Result:
        scope = await session.begin(task)
        seq = 0

        async def emitter(fd: int, data: bytes) -> None:
            nonlocal seq
            seq += 1
            await session.send(Output(task_id=task.task_id, stream=fd, seq=seq, data=data))

        from ._executor import execute  # with the first task: an idle agent has run none

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
            session = self.session
            assert session is not None
            await session.resend_unacked(older_than=20)
            self.journal.prune()
            if changed or rounds % REENROLL_ROUNDS == 0:
                try:
                    enrollment = session.enrollment = await self.enroll()
                except RegistrationError as exc:
                    log.warning("periodic re-registration failed: %s", exc)
                    continue
                current, channel = session.proxy_id, session.channel
                if current and current not in {p.id for p in enrollment.proxies} and channel is not None:
                    log.warning("proxy %s is no longer offered by the center; leaving it", current)
                    await channel.aclose()

    def status(self) -> dict[str, Any]:
        return {
            "agent_id": self.enrollment.agent_id if self.enrollment else "",
            "connected": self.session is not None and self.session.channel is not None,
            "running": sorted(self.session.running if self.session else ()),
            "journal": self.journal.counts(),
            "residents": self.residents.status(),
            "throttle": self.throttle.describe(),
            # A fresh sample, for live checks (`starling diag HOST`).
            "health": msgspec.to_builtins(collect_health(len(self.session.running if self.session else ()), self.throttle.describe(), mounts=self.config.health_mounts)),
            **self.statistics,
        }


def dump_status(agent: Agent) -> str:
    return json.dumps(agent.status(), indent=2)
