"""The center's core: jobs in, results out, and the parts that carry them.

The center never talks to agents. It sends each proxy ONE batched ``dispatch``
per job, records every transition the proxies report, stores each result once,
and finalises whatever the deadline overtakes with a precise code.

:class:`Center` is the face the API and the server use; each responsibility
lives in its own module and is reached through one attribute:

============================  ===========================================  ==========================
attribute                     what it does                                 module
============================  ===========================================  ==========================
``links`` / ``proxy_links``   proxy sessions, their message loop, balance  :mod:`center._links`
``presence``                  who is online where, in memory; snapshots    :mod:`center._presence`
``dispatcher``                signs each job once, sends batches           :mod:`center._dispatch`
``progress``                  results and events by group commit           :mod:`center._progress`
``registrar``                 registrations by group commit                :mod:`center._registrar`
``sweeper``                   deadlines, stale hosts, re-dispatch          :mod:`center._sweeper`
``outputs``                   live output of streaming jobs                :mod:`center._outputs`
``terminals``                 web-terminal sessions over proxy links       :mod:`center._terminal`
``rollouts``, ``placement``,  staged jobs, proxy choice, host findings     ``_rollout``, ``_placement``,
``diagnoser``                                                              ``_diagnosis``
============================  ===========================================  ==========================

Approvals are :func:`center._approvals.decide`. Policy and audit are injected
(:class:`JobPolicy`, :class:`Audit`): the center only calls what those
protocols name.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

import trio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from transports import (
    Cancel,
    Channel,
    ErrorCode,
    ErrorMsg,
    Revoke,
    StarlingError,
    TransportError,
    encode_value,
)
from transports.signing import key_id_for

from ._accounts import Account, load_account
from ._actions import ActionBook
from ._approvals import decide
from ._diagnosis import Diagnoser
from ._dispatch import Dispatcher
from ._enroll import Enroller
from ._jobtimes import check_job_times
from ._links import ProxyLink, ProxyLinks
from ._metrics import CenterMetrics
from ._outputs import OutputBuffer
from ._placement import Pending, Placement
from ._presence import PresenceBook
from ._progress import ProgressWriter
from ._registrar import Registrar
from ._requests import JobRequest
from ._rollout import Rollouts
from ._rows import HostRow, JobRow, NewTask, TaskState
from ._select import resolve_targets
from ._store import AsyncStore, new_id
from ._sweeper import Sweeper
from ._terminal import TerminalHub
from ._upgrades import Upgrades

if TYPE_CHECKING:
    from ._policy import Admission

__all__ = ["APPROVAL_WINDOW", "Audit", "Center", "JobPolicy", "JobRequest", "NO_AUDIT", "OutputBuffer", "ProxyLink"]

log = logging.getLogger("starling.center")

#: How long a held job waits for an approver before its tasks fail (C011).
APPROVAL_WINDOW = 24 * 3600.0


class Audit(Protocol):
    """Where the center's decisions are recorded (:class:`center._audit.AuditTrail`)."""

    def record(self, actor: str, kind: str, subject: str = "", detail: Any = None) -> None: ...


class JobPolicy(Protocol):
    """What admits a job (:class:`center._policy.Policy`)."""

    book: ActionBook

    def admit(self, account: Account, req: JobRequest, targets: list[HostRow]) -> Admission: ...

    def warm(self) -> None:
        """Load what the first admission would (blocking; run in a thread)."""


class _NoAudit:
    def record(self, actor: str, kind: str, subject: str = "", detail: Any = None) -> None:
        pass


#: An audit that records nothing (tests of parts that do not audit).
NO_AUDIT: Audit = _NoAudit()


class Center:
    """One center's state and its operations.

    :param store: the database, through the async facade.
    :param signing_key: the center's Ed25519 key (tasks and credentials).
    :param policy: admits jobs; without one every submission is refused (C020).
    :param audit: records submissions, refusals, dispatches, approvals.
    """

    def __init__(
        self,
        store: AsyncStore,
        signing_key: ed25519.Ed25519PrivateKey,
        *,
        proxy_token: str,
        policy: JobPolicy | None = None,
        audit: Audit = NO_AUDIT,
        center_id: str = "center-1",
        dispatch_grace: float = 30.0,
        heartbeat: float = 10.0,
        grace_heartbeats: float = 3.0,
        enroll_token: str = "",
    ) -> None:
        self.store = store
        self.signing_key = signing_key
        self.public_key = signing_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = key_id_for(signing_key)
        self.proxy_token = proxy_token
        self.policy = policy
        self.audit = audit
        self.center_id = center_id
        self.dispatch_grace = dispatch_grace
        self.heartbeat = heartbeat
        self.grace = heartbeat * grace_heartbeats
        self.links: dict[str, ProxyLink] = {}
        #: Agents placed on each proxy (or sent home to an IDC) not yet in its load reports.
        self.assigned = Pending()
        self.files: Any = None  # center._files.CenterFiles, set by the server
        self._progress_events: dict[str, trio.Event] = defaultdict(trio.Event)
        self.stats: dict[str, int] = defaultdict(int)
        self.metrics = CenterMetrics(center_id)
        store.observer = self.metrics.store_op
        self.proxy_links = ProxyLinks(self)
        # Snapshots every third of the grace period: the stored last_seen never
        # lags enough (a snapshot period plus a heartbeat) for any center's
        # sweeper to take a live host offline.
        self.presence = PresenceBook(store, snapshot_every=max(0.5, self.grace / 3))
        self.dispatcher = Dispatcher(self)
        self.progress = ProgressWriter(self)
        self.registrar = Registrar(self)
        #: Checks and enrolls hosts, over HTTPS or relayed by proxies ("" token: refuses all).
        self.enroller = Enroller(self, enroll_token)
        self.sweeper = Sweeper(self)
        self.outputs = OutputBuffer()
        self.placement = Placement(self)
        self.diagnoser = Diagnoser(self)
        self.rollouts = Rollouts(self)
        self.upgrades = Upgrades(self)
        #: Seconds offline after which a host drops out of ``all`` (0 = never).
        self.offline_after = 0.0
        #: Chat-bot signing secrets per tool, and the account the bot acts as.
        self.chat_secrets: dict[str, str] = {}
        self.chat_account = ""
        #: Open web-terminal sessions (center._terminal), fed from the proxy links.
        self.terminals = TerminalHub()
        #: The ``[console]`` table of center.toml (center._config.ConsoleConfig); set by the server.
        self.console_config: Any = None

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run the center's own tasks: dispatcher, group-commit writers, sweeper."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.dispatcher.run)
            nursery.start_soon(self.progress.run)
            nursery.start_soon(self.registrar.run)
            nursery.start_soon(self.sweeper.run)
            if self.policy is not None:
                # The first job should not wait for the command checker to load.
                nursery.start_soon(trio.to_thread.run_sync, self.policy.warm)
            task_status.started()

    async def proxy_session(self, channel: Channel) -> None:
        """Serve one proxy's link (the carrier's connection handler)."""
        await self.proxy_links.session(channel)

    # -- progress notification -------------------------------------------------------

    def notify(self, job_ids: Iterable[str]) -> None:
        for job_id in job_ids:
            ev = self._progress_events.pop(job_id, None)
            if ev is not None:
                ev.set()

    async def wait_progress(self, job_id: str, seconds: float) -> None:
        """Return when the job progresses here, or after ``seconds`` (other
        centers may store its results: callers re-read the store either way)."""
        with trio.move_on_after(seconds):
            await self._progress_events[job_id].wait()

    async def settle(self, job_ids: set[str]) -> None:
        """After tasks of these jobs became final: diagnose failures, advance
        rollouts, finish jobs that are done, wake their followers."""
        await self.diagnoser.record_failed(job_ids)
        await self.rollouts.advance(job_ids)
        for job_id in job_ids:
            await self.store.finish_job_if_done(job_id)
        self.notify(job_ids)

    def reachable(self, agent: HostRow) -> bool:
        """Online on a proxy linked to this center (as far as the store knows)."""
        return agent.online and agent.proxy_id in self.links

    # -- jobs ------------------------------------------------------------------------------

    async def submit(self, req: JobRequest, account: str = "") -> dict[str, Any]:
        check_job_times(req.timeout, req.deadline)  # C001 for NaN, inf, negative, 1e308, 1e-300
        if not (req.hosts or req.tags or req.idc or req.all):
            raise StarlingError("give targets: hosts, tags, idc or all", code=ErrorCode.C001)
        resolved = await resolve_targets(self, req, time.time())
        targets = resolved.targets
        revoked = [t for t in targets if t.revoked]
        if req.hosts and revoked:
            raise StarlingError(f"revoked host(s): {', '.join(t.hostname for t in revoked[:10])}", code=ErrorCode.C019)
        targets = [t for t in targets if not t.revoked]
        if not targets:
            raise StarlingError(f"no registered host matches the selection{resolved.explain()}", code=ErrorCode.C003)
        if self.policy is None:
            raise StarlingError("this center has no policy configured", code=ErrorCode.C020)
        await self.learn_catalogues({t.catalogue for t in targets})
        acct = await self.store.call(load_account, self.store.sync, account)
        try:
            adm = await trio.to_thread.run_sync(self.policy.admit, acct, req, targets)
        except StarlingError as exc:
            self.metrics.refused(exc.code)
            self.audit.record(account, "job.refused", req.action, {"code": exc.code.value, "message": exc.message, "hosts": len(targets)})
            raise
        assert adm.effective is not None
        hold, params = adm.hold, adm.params
        self.metrics.verdict(adm.risk)
        timeout = req.timeout if req.timeout is not None else adm.effective.timeout
        check_job_times(timeout, req.deadline)  # a declared timeout comes from an agent's catalogue
        now = time.time()
        job_id = new_id("j")
        window = APPROVAL_WINDOW if hold else (req.deadline if req.deadline > 0 else timeout + self.dispatch_grace)
        deadline = now + window
        plan = self.rollouts.plan(req, targets, now)
        targets = plan.targets if plan else targets
        params_raw = encode_value(params)
        job_row = JobRow(
            id=job_id, account=account, action=req.action, params=json.dumps(req.params),
            params_raw=params_raw, targets=json.dumps({"hosts": req.hosts, "tags": req.tags, "idc": req.idc, "all": req.all}),
            created=now, timeout=timeout, deadline=deadline, total=len(targets),
            state="pending_approval" if hold else "running", offline=req.offline, stream=req.stream,
        )
        task_rows = [
            NewTask(id=f"{job_id}-{i:x}", job_id=job_id, agent_id=t.id, deadline=plan.deadline_of(i, deadline, now) if plan else deadline, created=now)
            for i, t in enumerate(targets)
        ]
        await self.store.create_job(job_row, task_rows)
        self.stats["jobs"] += 1
        self.metrics.jobs_submitted.labels(req.action).inc()
        self.audit.record(account, "job.submit", job_id, {"action": req.action, "hosts": len(targets), "hold": hold, "reasons": adm.reasons, "risk": adm.risk})
        missing = set(adm.missing)
        if missing:
            # Hosts whose agents do not have the action: say so now, per host.
            await self.store.finalize([
                (r.id, "failed", ErrorCode.A001.value, f"this host's agent does not declare {req.action}")
                for r in task_rows if r.agent_id in missing
            ])
        answer: dict[str, Any] = {"job_id": job_id, "total": len(targets), "state": job_row.state, "warnings": adm.warnings} | resolved.notes()
        if missing:
            answer["undeclared"] = len(missing)
        # A rollout first skips the hosts diagnosed unhealthy (C033), before they fail
        # as offline; a held job keeps its rollout for when it is approved.
        send = await self.rollouts.begin(job_row, task_rows, plan) if plan else task_rows
        if hold:
            answer |= {"code": ErrorCode.C011.value, "reasons": adm.reasons, "offline": 0}
            return answer
        by_agent = {t.id: t for t in targets}
        live = [r for r in task_rows if r.agent_id not in missing]
        offline = [(row.id, by_agent[row.agent_id]) for row in live if not self.reachable(by_agent[row.agent_id])]
        if offline and req.offline == "fail":
            await self.store.finalize([(tid, "failed", agent.code or "E001", ErrorCode.of(agent.code or "E001", ErrorCode.E001).meaning) for tid, agent in offline])
        offline_ids = {tid for tid, _ in offline}
        # The caller has its job id now; signing and sending happen in the dispatcher.
        self.dispatcher.send_soon(job_row, [r for r in send if r.agent_id not in missing and r.id not in offline_ids], by_agent)
        if missing or offline:
            await self.settle({job_id})
        return answer | {"offline": len(offline)}


    async def learn_catalogues(self, digests: set[str]) -> None:
        """Make the declarations of these catalogues known (another center may have stored them)."""
        if self.policy is None:
            return
        book = self.policy.book
        unknown = {d for d in digests if d and not book.knows(d)}
        if unknown:
            for digest, doc in (await self.store.catalogue_docs(unknown)).items():
                book.add(digest, doc)

    async def decide(self, job_id: str, approver: str, approve: bool) -> dict[str, Any]:
        """A second account approves (or rejects) a held job (:func:`center._approvals.decide`)."""
        return await decide(self, job_id, approver, approve)

    async def cancel(self, job_id: str) -> dict[str, Any]:
        job = await self.store.job(job_id)
        if job is None:
            raise StarlingError(f"no job {job_id}", code=ErrorCode.C004)
        if job.state not in ("running", "pending_approval"):
            raise StarlingError(f"job {job_id} is already {job.state}", code=ErrorCode.C026)
        await self.store.set_job_state(job_id, "cancelled")
        rows = await self.store.running_tasks(job_id)
        by_proxy: dict[str, list[TaskState]] = defaultdict(list)
        not_started = []
        for r in rows:
            if r.state in ("created", "dispatched"):
                not_started.append((r.id, "cancelled", ErrorCode.C006.value, ErrorCode.C006.meaning))
            if r.proxy_id:
                by_proxy[r.proxy_id].append(r)
        for proxy_id, group in by_proxy.items():
            link = self.links.get(proxy_id)
            if link is not None:
                try:
                    await link.channel.send(
                        Cancel(task_ids=[r.id for r in group], agent_ids=[r.agent_id for r in group], reason="job cancelled")
                    )
                except TransportError:
                    pass
        await self.store.finalize(not_started)
        await self.settle({job_id})
        return {"job_id": job_id, "cancelling": len(rows)}

    async def revoke_proxy(self, proxy_id: str) -> bool:
        """Refuse a proxy from now on and cut its link; its agents reconnect elsewhere."""
        ok = await self.store.revoke_proxy(proxy_id)
        if not ok:
            return False
        link = self.links.get(proxy_id)
        if link is not None:
            with trio.CancelScope(shield=True):
                try:
                    await link.channel.send(ErrorMsg(code=ErrorCode.P005.value, message="proxy revoked"))
                except TransportError:
                    pass
                await link.channel.aclose()
        self.audit.record(self.center_id, "proxy.revoke", proxy_id, {})
        return bool(ok)

    async def revoke(self, agent_id: str, revoked: bool = True) -> bool:
        """Revoke (or restore) a host. A revoked host's agent is cut off and its
        re-enrollment refused (C019); restoring lets it enroll again."""
        ok = await self.store.revoke_agent(agent_id, revoked)
        if not ok:
            return False
        for link in list(self.links.values()):
            try:
                await link.channel.send(Revoke(agent_ids=[agent_id]) if revoked else Revoke(agent_ids=[], restored=[agent_id]))
            except TransportError:
                pass
        return bool(ok)
