"""The center's core: proxy links, job submission, routing, the deadline sweeper.

The center never talks to agents. It sends each proxy ONE batched ``dispatch``
per job, records every transition the proxies report, stores each result once,
and finalises whatever the deadline overtakes with a precise code.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import trio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from transports import (
    Balance,
    Cancel,
    Channel,
    ChunkGet,
    ChunkPut,
    Dispatch,
    DispatchAck,
    ErrorCode,
    ErrorMsg,
    Events,
    JobSpec,
    LoadReport,
    Output,
    Ping,
    Pong,
    Presence,
    Result,
    ResultAck,
    Results,
    Revoke,
    StarlingError,
    StreamClose,
    StreamData,
    StreamOpen,
    TaskRef,
    TransportError,
    Welcome,
    encode_value,
    receive_hello,
)
from transports._signing import key_id_for, sign_job_spec, verify_result

from ._credentials import proxy_token
from ._diagnosis import Diagnoser, host_findings
from ._jobtimes import check_job_times
from ._metrics import CenterMetrics, log_failure
from ._placement import Placement
from ._requests import JobRequest
from ._rollout import Rollouts
from ._select import resolve_targets
from ._store import AsyncStore, new_id
from ._terminal import TerminalHub

if TYPE_CHECKING:
    from ._audit import AuditTrail
    from ._policy import Policy

log = logging.getLogger("starling.center")

BALANCE_TOLERANCE = 1.1
BALANCE_EVERY = 8.0
#: A task dispatched or delivered this long ago without an ack is sent again
#: (the agent's journal makes a duplicate harmless).
REDISPATCH_AFTER = 10.0
#: How long a held job waits for an approver before its tasks fail (C011).
APPROVAL_WINDOW = 24 * 3600.0


class OutputBuffer:
    """Live output chunks of streaming jobs, per job, in memory and bounded.
    Readers follow a job with a cursor; the stored result stays the record."""

    def __init__(self, per_job: int = 5000, jobs: int = 200) -> None:
        self.per_job = per_job
        self.jobs = jobs
        self._chunks: dict[str, list[Output]] = {}
        self._dropped: dict[str, int] = defaultdict(int)
        self._wake: dict[str, trio.Event] = defaultdict(trio.Event)

    def add(self, out: Output) -> None:
        job_id = out.task_id.rsplit("-", 1)[0]
        chunks = self._chunks.setdefault(job_id, [])
        if len(self._chunks) > self.jobs:
            oldest = next(iter(self._chunks))
            self._chunks.pop(oldest, None)
            self._dropped.pop(oldest, None)
        if len(chunks) >= self.per_job:
            self._dropped[job_id] += 1
        else:
            chunks.append(out)
        self._wake.pop(job_id, trio.Event()).set()

    def since(self, job_id: str, cursor: int) -> list[Output]:
        return self._chunks.get(job_id, [])[cursor:]

    async def wait(self, job_id: str, seconds: float) -> None:
        with trio.move_on_after(seconds):
            await self._wake[job_id].wait()


@dataclass
class ProxyLink:
    proxy_id: str
    idc: str
    channel: Channel
    urls: list[str] = field(default_factory=list)
    connections: int = 0
    capacity: int = 0
    balanced_at: float = 0.0
    nursery: trio.Nursery | None = None
    acks: dict[str, trio.Event] = field(default_factory=dict)
    rejected: dict[str, list[Any]] = field(default_factory=dict)


class Center:
    def __init__(
        self,
        store: AsyncStore,
        signing_key: ed25519.Ed25519PrivateKey,
        *,
        proxy_token: str,
        center_id: str = "center-1",
        dispatch_grace: float = 30.0,
        heartbeat: float = 10.0,
        grace_heartbeats: float = 3.0,
    ) -> None:
        self.store = store
        self.signing_key = signing_key
        self.public_key = signing_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = key_id_for(signing_key)
        self.proxy_token = proxy_token
        self.center_id = center_id
        self.dispatch_grace = dispatch_grace
        self.heartbeat = heartbeat
        self.grace = heartbeat * grace_heartbeats
        self.links: dict[str, ProxyLink] = {}
        #: Agents sent to each proxy by registration since its last load report.
        self.assigned: dict[str, int] = {}
        self.outputs = OutputBuffer()
        self._idc_totals: dict[str, int] = {}
        self.policy: Policy | None = None  # set by the server before serving
        self.audit: AuditTrail | None = None
        self.files: Any = None  # center._files.CenterFiles, set by the server
        self._progress: dict[str, trio.Event] = defaultdict(trio.Event)
        self.stats: dict[str, int] = defaultdict(int)
        self.metrics = CenterMetrics(center_id)
        self.placement = Placement(self)
        store.observer = self.metrics.store_op
        self.diagnoser = Diagnoser(self)
        self.rollouts = Rollouts(self)
        #: Seconds offline after which a host drops out of ``all`` (0 = never).
        self.offline_after = 0.0
        #: Chat-bot signing secrets per tool, and the account the bot acts as.
        self.chat_secrets: dict[str, str] = {}
        self.chat_account = ""
        #: Open web-terminal sessions (center._terminal), fed from the proxy links.
        self.terminals = TerminalHub()
        #: The ``[console]`` table of center.toml (center._config.ConsoleConfig); set by the server.
        self.console_config: Any = None

    # -- progress notification -------------------------------------------------------

    def notify(self, job_ids: set[str] | list[str]) -> None:
        for job_id in job_ids:
            ev = self._progress.pop(job_id, None)
            if ev is not None:
                ev.set()

    async def wait_progress(self, job_id: str, seconds: float) -> None:
        """Return when the job progresses here, or after ``seconds`` (other
        centers may store its results: callers re-read the store either way)."""
        with trio.move_on_after(seconds):
            await self._progress[job_id].wait()

    # -- proxy links ---------------------------------------------------------------------

    async def proxy_session(self, channel: Channel) -> None:
        hello = await receive_hello(channel, "proxy")
        if hello is None:
            return
        expected = proxy_token(self.proxy_token, hello.node_id).encode()
        if not hmac.compare_digest(hello.credential, expected):
            log.warning("proxy %s refused: bad token", hello.node_id)
            await channel.send(ErrorMsg(code=ErrorCode.P005.value, message="proxy authentication failed"))
            return
        if hello.node_id in await self.store.revoked_proxies():
            log.warning("proxy %s refused: revoked", hello.node_id)
            await channel.send(ErrorMsg(code=ErrorCode.P005.value, message="proxy revoked"))
            return
        channel.mark_authenticated()
        revoked = await self.store.revoked_agents()
        await channel.send(
            Welcome(session=new_id("s"), heartbeat=self.heartbeat, server_time=time.time(), center_key=self.public_key, revoked=revoked)
        )
        link = ProxyLink(proxy_id=hello.node_id, idc=hello.idc or "default", channel=channel)
        old = self.links.get(link.proxy_id)
        if old is not None:
            await old.channel.aclose()
        self.links[link.proxy_id] = link
        await self.store.upsert_proxy(link.proxy_id, idc=link.idc, online=True)
        log.info("proxy %s connected (%s)", link.proxy_id, link.idc, extra={"proxy_id": link.proxy_id})
        try:
            async with trio.open_nursery() as nursery:
                link.nursery = nursery
                await self._link_loop(link, channel)
                nursery.cancel_scope.cancel()
        finally:
            self.terminals.link_gone(link)
            if self.links.get(link.proxy_id) is link:
                del self.links[link.proxy_id]
                with trio.CancelScope(shield=True):
                    await self.store.proxy_lost(link.proxy_id)
                log.warning("proxy %s disconnected", link.proxy_id, extra={"proxy_id": link.proxy_id, "code": ErrorCode.P007.value})

    async def _link_loop(self, link: ProxyLink, channel: Channel) -> None:
        async for msg in channel:
            try:
                await self._on_proxy_message(link, msg)
            except (TransportError, trio.Cancelled):
                raise
            except Exception as exc:
                # A store hiccup must not drop the link: unacknowledged
                # results are re-sent by the proxy.
                log_failure(log, f"handling {type(msg).__name__} from proxy {link.proxy_id} failed", exc, proxy_id=link.proxy_id)

    async def _on_proxy_message(self, link: ProxyLink, msg: Any) -> None:
        if isinstance(msg, Results):
            genuine = await self._genuine(link, msg.results)
            touched = await self.store.store_results(genuine)
            await link.channel.send(ResultAck(task_ids=[r.task_id for r in msg.results]))
            self.stats["results"] += len(msg.results)
            await self._settle(touched)
        elif isinstance(msg, Events):
            await self.store.apply_events(msg.events)
            self.notify({ev.task_id.rsplit("-", 1)[0] for ev in msg.events})
        elif isinstance(msg, DispatchAck):
            link.rejected[msg.dispatch_id] = msg.rejected
            ev = link.acks.pop(msg.dispatch_id, None)
            if ev is not None:
                ev.set()
        elif isinstance(msg, Presence):
            came = await self.store.apply_presence(link.proxy_id, msg.agents, msg.full)
            if came and link.nursery is not None:
                # Not inline: a dispatch waits for its ack, which this very loop reads.
                link.nursery.start_soon(self._redispatch_for, came)
        elif isinstance(msg, LoadReport):
            link.urls = msg.urls
            link.connections = msg.connections
            link.capacity = msg.capacity
            self.assigned[link.proxy_id] = 0
            await self.store.upsert_proxy(
                link.proxy_id, idc=msg.idc or link.idc, urls=msg.urls, connections=msg.connections,
                capacity=msg.capacity, load1=msg.load1, cpus=msg.cpus, rss=msg.rss, online=True,
            )
            await self._balance(link.idc)
        elif isinstance(msg, Output):
            self.outputs.add(msg)
        elif isinstance(msg, (ChunkGet, ChunkPut)) and self.files is not None and link.nursery is not None:
            link.nursery.start_soon(self.files.serve, link.channel, msg)  # not inline: chunks are big
        elif isinstance(msg, (StreamOpen, StreamData, StreamClose)):
            self.terminals.deliver(link, msg)
        elif isinstance(msg, Ping):
            await link.channel.send(Pong(seq=msg.seq))
        elif isinstance(msg, ErrorMsg):
            log.warning("proxy %s reports %s: %s", link.proxy_id, msg.code, msg.message)

    async def _genuine(self, link: ProxyLink, results: list[Result]) -> list[Result]:
        """Results signed by the agent the task was sent to (hosts enrolled with a
        key must sign); anything else is a proxy's forgery and is dropped."""
        keys = await self.store.result_keys([r.task_id for r in results])

        def check() -> tuple[list[Result], list[tuple[str, str]]]:
            ok, bad = [], []
            for r in results:
                key = keys.get(r.task_id)
                if key is None:
                    continue  # not a task of ours (a forged id): nothing to store
                if key:
                    try:
                        verify_result(base64.b64decode(key), r)
                    except StarlingError as exc:
                        bad.append((r.task_id, str(exc)))
                        continue
                ok.append(r)
            return ok, bad

        ok, bad = await trio.to_thread.run_sync(check)
        for task_id, why in bad:
            log.warning("dropped a result for %s from proxy %s: %s", task_id, link.proxy_id, why)
            self._audit(self.center_id, "result.forged", task_id, {"proxy": link.proxy_id, "why": why})
        return ok

    async def _balance(self, idc: str) -> None:
        """Even out agents over the linked proxies of one IDC: a proxy above the
        mean by more than the tolerance is told to drain idle agents down to it.
        (A proxy linked to several centers hears the same target from each.)"""
        links = [lk for lk in self.links.values() if lk.idc == idc]
        if len(links) < 2:
            return
        total = sum(lk.connections for lk in links)
        previous, self._idc_totals[idc] = self._idc_totals.get(idc), total
        if previous is None or abs(total - previous) > max(5, 0.02 * total):
            return  # agents are still arriving or leaving: let it settle first
        mean = total / len(links)
        now = time.monotonic()
        for lk in links:
            if lk.connections > mean * BALANCE_TOLERANCE + 2 and now - lk.balanced_at > BALANCE_EVERY:
                lk.balanced_at = now
                target = int(mean) + 1
                log.info("proxy %s holds %d agents, IDC mean %.0f: draining to %d", lk.proxy_id, lk.connections, mean, target)
                try:
                    await lk.channel.send(Balance(target=target))
                except TransportError:
                    pass

    async def _settle(self, job_ids: set[str]) -> None:
        await self.diagnoser.record_failed(job_ids)
        await self.rollouts.advance(job_ids)
        for job_id in job_ids:
            await self.store.finish_job_if_done(job_id)
        self.notify(job_ids)

    # -- jobs ------------------------------------------------------------------------------

    async def submit(self, req: JobRequest, account: str = "") -> dict[str, Any]:
        check_job_times(req.timeout, req.deadline)  # C001 for NaN, inf, negative, 1e308, 1e-300
        if not (req.hosts or req.tags or req.idc or req.all):
            raise StarlingError("give targets: hosts, tags, idc or all", code=ErrorCode.C001)
        resolved = await resolve_targets(self, req, time.time())
        targets = resolved.targets
        revoked = [t for t in targets if t["revoked"]]
        if req.hosts and revoked:
            raise StarlingError(f"revoked host(s): {', '.join(t['hostname'] for t in revoked[:10])}", code=ErrorCode.C019)
        targets = [t for t in targets if not t["revoked"]]
        if not targets:
            raise StarlingError(f"no registered host matches the selection{resolved.explain()}", code=ErrorCode.C003)
        if self.policy is None:
            raise StarlingError("this center has no policy configured", code=ErrorCode.C020)
        await self.learn_catalogues({t["catalogue"] for t in targets})
        from ._accounts import load_account

        acct = await self.store.call(load_account, self.store.sync, account)
        try:
            adm = await trio.to_thread.run_sync(self.policy.admit, acct, req, targets)
        except StarlingError as exc:
            self.metrics.refused(exc.code)
            self._audit(account, "job.refused", req.action, {"code": exc.code.value, "message": exc.message, "hosts": len(targets)})
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
        job_row = {
            "id": job_id, "account": account, "action": req.action, "params": json.dumps(req.params),
            "params_raw": params_raw, "targets": json.dumps({"hosts": req.hosts, "tags": req.tags, "idc": req.idc, "all": req.all}),
            "created": now, "timeout": timeout, "deadline": deadline, "total": len(targets),
            "state": "pending_approval" if hold else "running", "offline": req.offline, "stream": req.stream,
        }
        task_rows = [
            {"id": f"{job_id}-{i:x}", "job_id": job_id, "agent_id": t["id"], "state": "created", "deadline": deadline, "created": now}
            for i, t in enumerate(targets)
        ]
        if plan:
            plan.hold(task_rows, now)
        await self.store.create_job(job_row, task_rows)
        self.stats["jobs"] += 1
        self.metrics.jobs_submitted.labels(req.action).inc()
        self._audit(account, "job.submit", job_id, {"action": req.action, "hosts": len(targets), "hold": hold, "reasons": adm.reasons, "risk": adm.risk})
        missing = set(adm.missing)
        if missing:
            # Hosts whose agents do not have the action: say so now, per host.
            await self.store.finalize([
                (r["id"], "failed", ErrorCode.A001.value, f"this host's agent does not declare {req.action}")
                for r in task_rows if r["agent_id"] in missing
            ])
        answer: dict[str, Any] = {"job_id": job_id, "total": len(targets), "state": job_row["state"], "warnings": adm.warnings} | resolved.notes()
        if missing:
            answer["undeclared"] = len(missing)
        # A rollout first skips the hosts diagnosed unhealthy (C033), before they fail
        # as offline; a held job keeps its rollout for when it is approved.
        send = await self.rollouts.begin(job_row, task_rows, plan) if plan else task_rows
        if hold:
            answer |= {"code": ErrorCode.C011.value, "reasons": adm.reasons, "offline": 0}
            return answer
        by_agent = {t["id"]: t for t in targets}
        live = [r for r in task_rows if r["agent_id"] not in missing]
        offline = [(row["id"], by_agent[row["agent_id"]]) for row in live if not self._reachable(by_agent[row["agent_id"]])]
        if offline and req.offline == "fail":
            await self.store.finalize([(tid, "failed", agent["code"] or "E001", ErrorCode.of(agent["code"] or "E001", ErrorCode.E001).meaning) for tid, agent in offline])
        offline_ids = {tid for tid, _ in offline}
        await self.dispatch(job_row, [r for r in send if r["agent_id"] not in missing and r["id"] not in offline_ids], by_agent)
        await self._settle({job_id})
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

    def _audit(self, actor: str, kind: str, subject: str, detail: Any) -> None:
        if self.audit is not None:
            self.audit.record(actor, kind, subject, detail)

    async def decide(self, job_id: str, approver: str, approve: bool) -> dict[str, Any]:
        """A second account approves (or rejects) a held job.

        Two people means two keys that do not answer to one another: the
        submitter cannot approve, and neither can an account that created the
        submitter's account (directly or through others) — one stolen key
        cannot mint a submitter and approve its jobs."""
        from ._accounts import creators, load_account

        job = await self.store.job(job_id)
        if job is None:
            raise StarlingError(f"no job {job_id}", code=ErrorCode.C004)
        if job["state"] != "pending_approval":
            raise StarlingError(f"job {job_id} is {job['state']}, not waiting for approval", code=ErrorCode.C001)
        acct = await self.store.call(load_account, self.store.sync, approver)
        if not acct.approver:
            raise StarlingError("this account may not approve jobs", code=ErrorCode.C009)
        if approver == job["account"]:
            raise StarlingError("a job needs a second person: its submitter cannot approve it", code=ErrorCode.C009)
        if approve and approver in await self.store.call(creators, self.store.sync, job["account"]):
            raise StarlingError("a job needs a second person: its submitter's account was created by the approver", code=ErrorCode.C009)
        self._audit(approver, "job.approve" if approve else "job.reject", job_id, {"submitter": job["account"]})
        if not approve:
            await self.store.set_job_state(job_id, "rejected")
            rows = await self.store.running_tasks(job_id)
            touched = await self.store.finalize([(r["id"], "cancelled", ErrorCode.C012.value, f"rejected by {approver}") for r in rows])
            await self._settle(touched | {job_id})
            return {"job_id": job_id, "state": "rejected"}
        deadline = time.time() + job["timeout"] + self.dispatch_grace
        await self.store.set_deadline(job_id, deadline)
        await self.rollouts.rehold(job_id)
        await self.store.set_job_state(job_id, "running")
        job = await self.store.job(job_id)
        assert job is not None
        rows = await self.store.running_tasks(job_id)
        agents = await self.store.agent_by_id({r["agent_id"] for r in rows})
        offline = [(r["id"], "failed", agents[r["agent_id"]]["code"] or "E001", "host offline at approval") for r in rows if not self._reachable(agents[r["agent_id"]])]
        if offline and job["offline"] == "fail":
            await self.store.finalize(offline)
        gone = {t for t, *_ in offline}
        rows = await self.rollouts.held_filter([r | {"job_id": job_id} for r in rows])
        await self.dispatch(job, [{"id": r["id"], "agent_id": r["agent_id"]} for r in rows if r["id"] not in gone], agents)
        await self._settle({job_id})
        return {"job_id": job_id, "state": "running", "approved_by": approver}

    def _reachable(self, agent: dict[str, Any]) -> bool:
        return bool(agent["online"]) and agent["proxy_id"] in self.links

    def job_spec(self, job: dict[str, Any]) -> JobSpec:
        return JobSpec(
            job_id=job["id"], action=job["action"], params=msgspec.Raw(job["params_raw"]),
            timeout=job["timeout"], deadline=job["deadline"], stream=bool(job["stream"]), account=job["account"],
            issued=job["created"],  # signed: the agent refuses tasks issued before its journal's epoch
        )

    async def dispatch(self, job: dict[str, Any], task_rows: list[dict[str, Any]], agents: dict[str, dict[str, Any]]) -> None:
        """Send each proxy ONE batch for this job and record what it accepted."""
        # One signature per job: the Merkle root covers every (task, host) of the
        # job; each task carries its proof. Ed25519 is deterministic, so signing
        # again for a re-dispatch yields the same root and signature.
        everything = await self.store.job_task_refs(job["id"])
        spec, refs = sign_job_spec(
            self.signing_key, self.key_id, self.job_spec(job), [TaskRef(task_id=t, agent_id=a) for t, a in everything],
            expires=job["deadline"], nonce=job["id"].encode(),
        )
        signed = {r.task_id: r for r in refs}
        by_proxy: dict[str, list[TaskRef]] = defaultdict(list)
        for row in task_rows:
            agent = agents.get(row["agent_id"])
            if agent is None or not self._reachable(agent):
                continue
            by_proxy[agent["proxy_id"]].append(signed[row["id"]])

        async def one(proxy_id: str, refs: list[TaskRef]) -> None:
            link = self.links.get(proxy_id)
            if link is None:
                return
            dispatch_id = new_id("d")
            ev = trio.Event()
            link.acks[dispatch_id] = ev
            sent_at = time.time()  # "dispatched" is when it left, not when the ack came
            try:
                await link.channel.send(Dispatch(dispatch_id=dispatch_id, job=spec, tasks=refs))
            except TransportError as exc:
                log.warning("dispatch to %s failed: %s", proxy_id, exc)
                link.acks.pop(dispatch_id, None)
                return
            with trio.move_on_after(10):
                await ev.wait()
            if not ev.is_set():
                link.acks.pop(dispatch_id, None)
                log.warning("proxy %s did not ack dispatch %s; will retry", proxy_id, dispatch_id)
                return
            self.metrics.dispatched(proxy_id, time.time() - sent_at, len(refs) - len(link.rejected.get(dispatch_id, [])))
            rejected = {r.task_id for r in link.rejected.pop(dispatch_id, [])}
            accepted = [r.task_id for r in refs if r.task_id not in rejected]
            await self.store.mark(accepted, "dispatched", sent_at, proxy_id)
            self._audit(self.center_id, "job.dispatch", job["id"], {"proxy": proxy_id, "dispatch": dispatch_id, "tasks": len(accepted), "rejected": len(rejected)})
            self.stats["dispatched"] += len(accepted)

        async with trio.open_nursery() as nursery:
            for proxy_id, refs in by_proxy.items():
                nursery.start_soon(one, proxy_id, refs)

    async def _redispatch_for(self, agent_ids: list[str]) -> None:
        """Hosts came (back) online: send them what they have not received yet."""
        rows = await self.store.undelivered_for(agent_ids, time.time())
        await self._redispatch(rows)

    async def _redispatch(self, rows: list[dict[str, Any]]) -> None:
        rows = await self.rollouts.held_filter(rows)
        if not rows:
            return
        agents = await self.store.agent_by_id({r["agent_id"] for r in rows})
        by_job: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            by_job[r["job_id"]].append(r)
        for job_id, job_rows in by_job.items():
            job = await self.store.job(job_id)
            if job is None or job["state"] in ("cancelled", "pending_approval"):
                continue
            await self.dispatch(job, job_rows, agents)

    async def cancel(self, job_id: str) -> dict[str, Any]:
        job = await self.store.job(job_id)
        if job is None:
            raise StarlingError(f"no job {job_id}", code=ErrorCode.C004)
        if job["state"] not in ("running", "pending_approval"):
            raise StarlingError(f"job {job_id} is already {job['state']}", code=ErrorCode.C026)
        await self.store.set_job_state(job_id, "cancelled")
        rows = await self.store.running_tasks(job_id)
        by_proxy: dict[str, list[dict[str, Any]]] = defaultdict(list)
        not_started = []
        for r in rows:
            if r["state"] in ("created", "dispatched"):
                not_started.append((r["id"], "cancelled", ErrorCode.C006.value, ErrorCode.C006.meaning))
            if r["proxy_id"]:
                by_proxy[r["proxy_id"]].append(r)
        for proxy_id, group in by_proxy.items():
            link = self.links.get(proxy_id)
            if link is not None:
                try:
                    await link.channel.send(
                        Cancel(task_ids=[r["id"] for r in group], agent_ids=[r["agent_id"] for r in group], reason="job cancelled")
                    )
                except TransportError:
                    pass
        await self.store.finalize(not_started)
        await self._settle({job_id})
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
        self._audit(self.center_id, "proxy.revoke", proxy_id, {})
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

    # -- the sweeper -------------------------------------------------------------------------

    def _environment_code(self, row: dict[str, Any], now: float) -> ErrorCode | None:
        """An ``E…`` code when the host's last report explains the failure
        (the first finding of :func:`center._diagnosis.host_findings`)."""
        for finding in host_findings(row, now, grace=self.grace, load_limit=self.diagnoser.load_limit):
            if finding.code.layer == "E" and finding.code.value <= "E005":
                return finding.code
        return None

    def classify_overdue(self, row: dict[str, Any], now: float) -> tuple[str, str, str, str]:
        if row.get("job_state") == "pending_approval":
            return (row["id"], "failed", ErrorCode.C011.value, "no approver decided before the approval window closed")
        code = self._environment_code(row, now) or ErrorCode.C005
        if code is ErrorCode.E001 and row["state"] in ("received", "running"):
            code = ErrorCode.P002  # it had the task, then vanished
        return (row["id"], "failed", code.value, code.meaning)

    async def sweep_once(self) -> int:
        now = time.time()
        await self.store.mark_stale_agents(now - self.grace)
        stuck = await self.store.stuck_tasks(now, now - REDISPATCH_AFTER, list(self.links))
        if stuck:
            self.stats["redispatched"] += len(stuck)
            await self._redispatch(stuck)
        await self.rollouts.tick()
        due = await self.store.due_tasks(now)
        if due:
            touched = await self.store.finalize([self.classify_overdue(r, now) for r in due])
            await self._settle(touched)
        return len(due)

    async def sweeper(self, interval: float = 1.0) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception as exc:
                log_failure(log, "sweeper pass failed", exc)
            await trio.sleep(interval)
