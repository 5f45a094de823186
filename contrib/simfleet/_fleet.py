"""The simulated fleet: N identities in one trio process, one journal, one
status file.

The status file (``<state_dir>/status.json``, rewritten atomically every
second) is what tests and benchmarks read::

    {"pid": 123, "count": 1000, "registered": 1000, "connected": 998,
     "by_proxy": {"proxy-1": 500, "proxy-2": 498}, "executions": 1000,
     "executed_twice": 0, "rss": 123456789, "stats": {...}, "time": ...}
"""

from __future__ import annotations

import json
import logging
import os
import random
import ssl
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import trio

from agent_core._declare import catalogue_for
from agent_core._identity import Identity
from agent_core._register import Enrollment, RegistrationError, register
from transports import ErrorCode, client_context

from ._agent import SOFTWARE, SimAgent
from ._journal import FleetJournal

log = logging.getLogger("starling.simfleet")

RESEND_AFTER = 20.0


def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


class SimFleet:
    """N simulated agents sharing one process.

    :param centers: center API URLs, tried in order for registration.
    :param token: the fleet enrollment token.
    :param count: how many identities.
    :param idc: the IDC every identity reports.
    :param state_dir: where the journal and the status file live.
    :param ca_file: CA bundle for the center's and proxies' certificates.
    :param transport: carrier scheme to use (``tcp``, ``quic``, ``http``).
    :param prefix: identities are ``<prefix>-<i>`` (SN and hostname).
    :param concurrency: registrations in flight at once.
    :param verify_signatures: check each task's center signature before
        journaling it, as the agent does (costs one Ed25519 verify per task).
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
        concurrency: int = 16,
        heartbeat: float = 10.0,
        backoff_min: float = 0.5,
        backoff_max: float = 30.0,
        verify_signatures: bool = True,
        clock_leeway: float = 60.0,
    ) -> None:
        self.centers = centers
        self.token = token
        self.count = count
        self.idc = idc
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.ca_file = ca_file
        self.transport = transport
        self.prefix = prefix
        self.heartbeat = heartbeat
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.verify_signatures = verify_signatures
        self.clock_leeway = clock_leeway
        self.journal = FleetJournal(self.state_dir / "journal.db")
        self.ssl_context: ssl.SSLContext | None = None
        self.agents: list[SimAgent] = []
        self.by_proxy: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        self.started = time.time()
        self._limiter = trio.CapacityLimiter(max(1, concurrency))
        self._pending: dict[str, list[Any]] = {}
        self._nursery: trio.Nursery | None = None
        self._catalogue: tuple[str, msgspec.Raw] | None = None
        self._catalogue_lock = trio.Lock()
        self._files: Any = None

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

    # -- enrollment ----------------------------------------------------------------------

    async def enroll(self, identity: Identity, *, fresh: bool = False, retry: bool = True) -> Enrollment:
        """Register over the real HTTPS endpoint (a few at a time); fall back
        to the saved enrollment when no center answers, as the agent does."""
        delay = self.backoff_min
        while True:
            try:
                async with self._limiter:
                    async with self._catalogue_lock:
                        if self._catalogue is None:
                            # The real agent's catalogue: simulated hosts declare what real ones do.
                            self._catalogue = await trio.to_thread.run_sync(catalogue_for, self.state_dir)
                    enrollment = await register(
                        self.centers, self.token, identity, SOFTWARE, self.ssl_context, catalogue=self._catalogue
                    )
            except RegistrationError as exc:
                if exc.code in (ErrorCode.C017, ErrorCode.C019):
                    raise
                cached = self.journal.enrollment(identity.sn)
                if cached is not None and not fresh:
                    return msgspec.json.decode(cached, type=Enrollment)
                if not retry:
                    raise
                self.stats["registration_retries"] += 1
                await trio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, self.backoff_max)
                continue
            self.journal.save_enrollment(identity.sn, enrollment.agent_id, msgspec.json.encode(enrollment))
            self.stats["registrations"] += 1
            return enrollment

    # -- connection bookkeeping ------------------------------------------------------------

    def on_connect(self, proxy_id: str) -> None:
        self.by_proxy[proxy_id] += 1
        self.stats["connects"] += 1

    def on_disconnect(self, proxy_id: str) -> None:
        self.by_proxy[proxy_id] -= 1
        if self.by_proxy[proxy_id] <= 0:
            del self.by_proxy[proxy_id]

    # -- running -----------------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run every identity until cancelled."""
        self.ssl_context = client_context(self.ca_file or None)
        interrupted, pending = self.journal.recover()
        for agent_id, res in interrupted:
            log.warning("task %s of %s was running when the fleet stopped; reported as A007", res.task_id, agent_id)
        for agent_id, task in pending:
            self._pending.setdefault(agent_id, []).append(task)
        self.stats["interrupted"] = len(interrupted)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._status_writer)
            nursery.start_soon(self._housekeeping)
            for i in range(self.count):
                agent = SimAgent(self, self.identity(i))
                self.agents.append(agent)
                nursery.start_soon(self._run_agent, agent)
            task_status.started(self)

    async def _run_agent(self, agent: SimAgent) -> None:
        agent.enrollment = await self.enroll(agent.identity)
        for task in self._pending.pop(agent.agent_id, []):
            self.nursery.start_soon(agent.run_task, task)
        await agent.run()

    async def _housekeeping(self) -> None:
        """Re-send results nobody acknowledged for a while (a proxy or center
        may have lost them); the receivers are idempotent."""
        while True:
            await trio.sleep(10)
            owners = self.journal.agents_with_unacked()
            if not owners:
                continue
            cutoff = time.time() - RESEND_AFTER
            for agent in self.agents:
                if agent.agent_id in owners and agent.channel is not None:
                    for res in self.journal.unacked(agent.agent_id, finished_before=cutoff):
                        if await agent.send(res):
                            self.stats["results_resent"] += 1

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "count": self.count,
            "registered": sum(1 for a in self.agents if a.enrollment is not None),
            "connected": sum(self.by_proxy.values()),
            "by_proxy": dict(self.by_proxy),
            "executions": self.journal.executions(),
            "executed_twice": len(self.journal.executed_twice()),
            "journal": self.journal.counts(),
            "rss": _rss(),
            "stats": dict(self.stats),
            "time": time.time(),
        }

    def write_status(self) -> None:
        path = self.state_dir / "status.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.status()))
        tmp.replace(path)

    async def _status_writer(self) -> None:
        while True:
            self.write_status()
            await trio.sleep(1)
