"""Dispatch, off the request path: jobs are signed once and sent to proxies in batches.

``submit`` stores a job and hands it here (:meth:`Dispatcher.send_soon`); the
caller has its job id before any proxy hears of it. The dispatcher signs each
job ONCE, in a worker thread — one Ed25519 signature over a Merkle root that
covers every ``(task, host)`` of the job, each task carrying its proof — and
keeps the signed task references of recent jobs, so a re-dispatch (a host
coming online, a sweeper pass, an approval's rollout step) picks the proofs it
needs instead of signing the job again. A job is signed again only when its
expiry changed (an approval starts its deadline) or it fell out of the cache
(then the signature comes out identical: Ed25519 is deterministic and the
tree is built from the stored task order).

Each proxy gets ONE ``dispatch`` per job listing its hosts; the tasks it
accepts are marked ``dispatched`` when its ack arrives (timestamped when the
batch left).
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import msgspec
import trio

from transports import Dispatch, JobSpec, TaskRef, TransportError
from transports.signing import sign_job_spec

from ._rows import HostRow, JobRow, OnHost, TaskTarget
from ._store import new_id

if TYPE_CHECKING:
    from ._center import Center

log = logging.getLogger("starling.center")

#: How long a proxy has to acknowledge a dispatch before the tasks count as
#: not sent (the sweeper sends them again) ...
ACK_WITHIN = 10.0
#: ... plus this much per task: a proxy acks once it wrote every task of the batch,
#: and a 10,000-host batch on a busy proxy outlasted 10 s, was sent again whole
#: (half the tasks delivered twice) and slowed the next one further.
ACK_PER_TASK = 0.001


def ack_within(tasks: int) -> float:
    """Seconds a proxy has to acknowledge a dispatch of ``tasks`` tasks."""
    return ACK_WITHIN + tasks * ACK_PER_TASK


def job_spec(job: JobRow) -> JobSpec:
    """The unsigned wire form of a stored job."""
    return JobSpec(
        job_id=job.id, action=job.action, params=msgspec.Raw(job.params_raw),
        timeout=job.timeout, deadline=job.deadline, stream=bool(job.stream), account=job.account,
        issued=job.created,  # signed: the agent refuses tasks issued before its journal's epoch
    )


class SignedJobs:
    """The signed spec and task references of recent jobs (LRU, bounded).

    :param keep: how many jobs to remember.
    """

    def __init__(self, keep: int = 256) -> None:
        self.keep = keep
        self._jobs: OrderedDict[tuple[str, float], tuple[JobSpec, dict[str, TaskRef]]] = OrderedDict()
        self._locks: dict[str, trio.Lock] = defaultdict(trio.Lock)
        #: How many times a job was signed (a test reads it: once per job).
        self.signatures = 0

    async def get(self, center: Center, job: JobRow) -> tuple[JobSpec, dict[str, TaskRef]]:
        key = (job.id, float(job.deadline))
        lock = self._locks[job.id]
        async with lock:  # two re-dispatches of one job sign it once
            got = self._jobs.get(key)
            if got is None:
                everything = await center.store.job_task_refs(job.id)
                refs = [TaskRef(task_id=t, agent_id=a) for t, a in everything]
                spec, signed = await trio.to_thread.run_sync(
                    lambda: sign_job_spec(center.signing_key, center.key_id, job_spec(job), refs, expires=job.deadline, nonce=job.id.encode())
                )
                self.signatures += 1
                got = self._jobs[key] = (spec, {r.task_id: r for r in signed})
                while len(self._jobs) > self.keep:
                    self._jobs.popitem(last=False)
            else:
                self._jobs.move_to_end(key)
        if not lock.locked() and not lock.statistics().tasks_waiting:
            self._locks.pop(job.id, None)
        return got


class Dispatcher:
    """Sends jobs to their proxies from its own task, never inside a request."""

    def __init__(self, center: Center) -> None:
        self.center = center
        self.signed = SignedJobs()
        self._send, self._receive = trio.open_memory_channel[tuple[JobRow, Sequence[OnHost], Mapping[str, HostRow]]](math.inf)
        self._idle = trio.Event()
        self._idle.set()
        self._busy = 0
        #: Tasks in a dispatch that no proxy has acknowledged yet (nor failed): not sent again meanwhile.
        self.in_flight: set[str] = set()

    def send_soon(self, job: JobRow, task_rows: Sequence[OnHost], agents: Mapping[str, HostRow]) -> None:
        """Queue ``task_rows`` of ``job`` for dispatch and return at once."""
        if task_rows:
            self._busy += 1
            self._idle = trio.Event() if self._idle.is_set() else self._idle
            self._send.send_nowait((job, task_rows, agents))

    async def wait_idle(self) -> None:
        """Return when everything queued so far was dispatched (tests, shutdown)."""
        await self._idle.wait()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            async for job, rows, agents in self._receive:
                nursery.start_soon(self._one, job, rows, agents)

    async def _one(self, job: JobRow, rows: Sequence[OnHost], agents: Mapping[str, HostRow]) -> None:
        try:
            await self.dispatch(job, rows, agents)
        except Exception:
            log.exception("dispatch of job %s failed; the sweeper will send it again", job.id)
        finally:
            self._busy -= 1
            if self._busy == 0:
                self._idle.set()

    async def dispatch(self, job: JobRow, task_rows: Sequence[OnHost], agents: Mapping[str, HostRow]) -> None:
        """Send each proxy ONE batch for this job and record what it accepted."""
        center = self.center
        by_proxy: dict[str, list[str]] = defaultdict(list)
        for row in task_rows:
            agent = agents.get(row.agent_id)
            if agent is not None and agent.proxy_id is not None and center.reachable(agent):
                by_proxy[agent.proxy_id].append(row.id)
        if not by_proxy:
            return
        spec, signed = await self.signed.get(center, job)
        async with trio.open_nursery() as nursery:
            for proxy_id, task_ids in by_proxy.items():
                nursery.start_soon(self._to_proxy, job.id, proxy_id, spec, [signed[t] for t in task_ids if t in signed])

    async def _to_proxy(self, job_id: str, proxy_id: str, spec: JobSpec, refs: list[TaskRef]) -> None:
        center = self.center
        link = center.links.get(proxy_id)
        if link is None or not refs:
            return
        dispatch_id = new_id("d")
        ev = trio.Event()
        link.acks[dispatch_id] = ev
        sent_at = time.time()  # "dispatched" is when it left, not when the ack came
        ids = [r.task_id for r in refs]
        self.in_flight.update(ids)
        try:
            try:
                await link.channel.send(Dispatch(dispatch_id=dispatch_id, job=spec, tasks=refs))
            except TransportError as exc:
                log.warning("dispatch to %s failed: %s", proxy_id, exc)
                return
            with trio.move_on_after(ack_within(len(refs))):
                await ev.wait()  # set by the ack, or by the link's end (then no ack)
            if dispatch_id not in link.rejected:
                log.warning("proxy %s did not ack dispatch %s; will retry", proxy_id, dispatch_id)
                return
        finally:
            link.acks.pop(dispatch_id, None)
            self.in_flight.difference_update(ids)
        rejected = {r.task_id for r in link.rejected.pop(dispatch_id, [])}
        center.metrics.dispatched(proxy_id, time.time() - sent_at, len(refs) - len(rejected))
        accepted = [r.task_id for r in refs if r.task_id not in rejected]
        await center.store.mark(accepted, "dispatched", sent_at, proxy_id)
        center.audit.record(center.center_id, "job.dispatch", job_id, {"proxy": proxy_id, "dispatch": dispatch_id, "tasks": len(accepted), "rejected": len(rejected)})
        center.stats["dispatched"] += len(accepted)

    async def redispatch_for(self, agent_ids: list[str]) -> None:
        """Hosts came (back) online: send them what they have not received yet."""
        rows = await self.center.store.undelivered_for(agent_ids, time.time())
        await self.redispatch(rows)

    async def redispatch(self, rows: list[TaskTarget]) -> None:
        center = self.center
        rows = [r for r in rows if r.id not in self.in_flight]  # its proxy may still ack it
        rows = await center.rollouts.held_filter(rows)
        if not rows:
            return
        agents = await center.store.agent_by_id({r.agent_id for r in rows})
        by_job: dict[str, list[TaskTarget]] = defaultdict(list)
        for r in rows:
            by_job[r.job_id].append(r)
        for job_id, job_rows in by_job.items():
            job = await center.store.job(job_id)
            if job is None or job.state in ("cancelled", "pending_approval"):
                continue
            await self.dispatch(job, job_rows, agents)
