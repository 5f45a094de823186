"""Rollout controls: how fast a job spreads over its hosts, and when it stops.

A job submitted with a :class:`Rollout` has all its tasks recorded at once, but
only a *released* prefix of them (by task index) may be dispatched:

* **waves** — a canary batch first (``canary`` hosts), then batches growing by
  ``growth`` each time; a wave is released only when the previous one has
  finished, after an optional ``pause``;
* **concurrency** — at most ``concurrency`` tasks in flight (a number, or a
  percentage of the targets such as ``"10%"``);
* **error threshold** — once more than ``max_failures`` tasks failed (a number
  or a percentage), nothing more is released and every task not yet released
  is ``cancelled`` with ``C034``; tasks in flight finish;
* **skip unhealthy** — hosts with a diagnosis finding at submission are not
  run: their task is ``cancelled`` with ``C033`` and the diagnosis recorded;
* **pause / resume** — an operator holds a rollout (``POST /v1/jobs/{job}/pause``):
  nothing more is released, tasks in flight finish; ``resume`` goes on from where
  it stood. Cancelling the job (``/cancel``) aborts it.

The state lives in the ``rollouts`` table, so any center may advance it (a
release is claimed with a compare-and-set on ``released``). Held tasks carry
a far deadline until released; at release they get the job's normal window.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import msgspec
import sqlalchemy as sa

from transports import ErrorCode, StarlingError

from ._records import rollouts
from ._rows import HostRow, JobRow, NewTask, OnHost, RolloutRow, TaskState
from ._store import NON_FINAL, Store, jobs, tasks

if TYPE_CHECKING:
    from ._center import Center, JobRequest

#: How long a task may wait for its wave (it gets its real deadline at release).
HOLD_WINDOW = 7 * 86400.0
#: Seconds between the sweeper's passes over every running rollout.
RESWEEP = 10.0
#: Any task record naming its job (a rollout filters and releases them).
R = TypeVar("R", bound=OnHost)
Percent = Annotated[str, msgspec.Meta(pattern=r"^\d{1,3}(\.\d{1,3})?%$")]


class Rollout(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """How a job spreads over its targets (see the module docstring)."""

    #: Tasks in flight at most: a number, or a percentage of the targets ("10%"); none = no limit.
    concurrency: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] | Percent | None = None
    #: Stop once more tasks than this failed: a number, or a percentage of the targets; none = never.
    max_failures: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] | Percent | None = None
    #: Size of the first wave (0 = no waves).
    canary: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] = 0
    #: Each later wave is this many times the previous one.
    growth: Annotated[float, msgspec.Meta(ge=1.0, le=1000.0)] = 2.0
    #: Seconds to wait between waves.
    pause: Annotated[float, msgspec.Meta(ge=0.0, le=86400.0)] = 0.0
    #: Do not run hosts diagnosed unhealthy now (their tasks are cancelled with C033).
    skip_unhealthy: bool = False


def _amount(value: int | str | None, total: int, *, at_least: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        return max(at_least, math.floor(total * float(value[:-1]) / 100))
    return value


def concurrency_of(spec: Rollout, total: int) -> int | None:
    return _amount(spec.concurrency, total, at_least=1)


def failure_limit(spec: Rollout, total: int) -> int | None:
    return _amount(spec.max_failures, total, at_least=0)


def wave_ends(spec: Rollout, total: int) -> list[int]:
    """Where each wave ends (task index, exclusive): ``canary=1, growth=2`` on
    10 hosts gives ``[1, 3, 7, 10]``."""
    if spec.canary <= 0 or spec.canary >= total:
        return [total]
    ends, size, end = [], spec.canary, 0
    while end < total:
        end = min(total, end + size)
        ends.append(end)
        size = max(size + 1, math.ceil(size * spec.growth)) if spec.growth > 1 else size
    return ends


def task_index(task_id: str) -> int:
    return int(task_id.rsplit("-", 1)[1], 16)


@dataclass
class Plan:
    """A rollout decided at submission: the targets in order (healthy first), the
    unhealthy ones to skip with their diagnosis, and the first release."""

    spec: Rollout
    targets: list[HostRow]
    skipped: dict[str, dict[str, Any]] = field(default_factory=dict)  # agent_id -> findings
    first: int = 0

    def deadline_of(self, index: int, deadline: float, now: float) -> float:
        """The first deadline of the task at ``index``: tasks beyond the first release
        get a far one (set for real at release)."""
        return deadline if index < self.first else now + HOLD_WINDOW


class Rollouts:
    """The rollout scheduler of one center."""

    def __init__(self, center: Center) -> None:
        self.center = center
        self._swept = time.time()

    # -- at submission ---------------------------------------------------------------

    def plan(self, req: JobRequest, targets: list[HostRow], now: float) -> Plan | None:
        spec = req.rollout
        if spec is None:
            return None
        skipped: dict[str, dict[str, Any]] = {}
        if spec.skip_unhealthy:
            for t in targets:
                found = self.center.diagnoser.findings(t, now)
                if found:
                    skipped[t.id] = {"findings": found}
        ordered = [t for t in targets if t.id not in skipped] + [t for t in targets if t.id in skipped]
        runnable = len(ordered) - len(skipped)
        first = self._release_target(spec, runnable, released=0, finals=0, wave_end=wave_ends(spec, runnable)[0]) if runnable else 0
        return Plan(spec=spec, targets=ordered, skipped=skipped, first=first)

    @staticmethod
    def _release_target(spec: Rollout, total: int, *, released: int, finals: int, wave_end: int) -> int:
        limit = concurrency_of(spec, total)
        target = wave_end
        if limit is not None:
            target = min(target, finals + limit)
        return max(released, min(target, total))

    async def begin(self, job: JobRow, task_rows: list[NewTask], plan: Plan) -> list[NewTask]:
        """Record the rollout, skip the unhealthy, and return the rows to dispatch now."""
        runnable = len(task_rows) - len(plan.skipped)
        ends = wave_ends(plan.spec, runnable) if runnable else [0]
        row = RolloutRow(
            job_id=job.id, spec=msgspec.json.encode(plan.spec).decode(), state="running" if runnable else "done",
            released=plan.first, wave=0, wave_end=ends[0], total=runnable, next_at=0.0, reason="",
        )
        store = self.center.store
        await store.call(_insert, store.sync, row)
        if plan.skipped:
            diag = self.center.diagnoser
            hosts = {t.id: t for t in plan.targets}
            docs = await diag.hosts([hosts[a] for a in plan.skipped])
            items = [(r.id, r.agent_id) for r in task_rows if r.agent_id in plan.skipped]
            await store.finalize([(tid, "cancelled", ErrorCode.C033.value, f"skipped: {docs[aid]['code']} {docs[aid]['summary']}") for tid, aid in items])
            await diag.record([(tid, job.id, docs[aid]) for tid, aid in items])
        return task_rows[: plan.first]

    # -- as results come in ----------------------------------------------------------------

    async def held_filter(self, rows: list[R]) -> list[R]:
        """Drop rows of tasks that their rollout has not released yet."""
        if not rows:
            return rows
        store = self.center.store
        released = await store.call(_released, store.sync, sorted({r.job_id for r in rows}))
        if not released:
            return rows
        return [r for r in rows if task_index(r.id) < released.get(r.job_id, 1 << 62)]

    async def rehold(self, job_id: str) -> None:
        """After an approval reset every deadline: put unreleased tasks back on hold."""
        store = self.center.store
        await store.call(_rehold, store.sync, job_id, time.time() + HOLD_WINDOW)

    async def advance(self, job_ids: set[str]) -> None:
        """Release what the rollouts of these jobs allow now, or stop them."""
        store = self.center.store
        mine = await store.call(_active, store.sync, sorted(job_ids))
        for rec in mine:
            await self._advance_one(rec)

    async def tick(self) -> None:
        """Called by the sweeper: continue rollouts whose pause is over and, every
        :data:`RESWEEP` seconds, every running one (a center that died between a
        wave's last result and the next release leaves it for another to pick up)."""
        store = self.center.store
        now = time.time()
        everything = now - self._swept >= RESWEEP
        if everything:
            self._swept = now
        due = await store.call(_due, store.sync, now, everything)
        for rec in due:
            await self._advance_one(rec)

    async def _advance_one(self, rec: RolloutRow) -> None:
        store = self.center.store
        center = self.center
        job = await store.job(rec.job_id)
        if job is None:
            return
        if job.state == "pending_approval":
            return  # released from the first wave on, once approved
        if job.state != "running":
            await store.call(_update, store.sync, rec.job_id, rec.released, state="done", reason=f"job {job.state}")
            return
        spec = msgspec.json.decode(rec.spec.encode(), type=Rollout)
        runnable = rec.total
        rows = await store.call(_task_states, store.sync, rec.job_id)
        failures = sum(1 for r in rows if r.state in ("failed", "timed_out"))
        released = rec.released
        # Skipped hosts sit at the end, beyond every wave: only runnable indexes count.
        finals = sum(1 for r in rows if r.state not in NON_FINAL and task_index(r.id) < released)
        limit = failure_limit(spec, runnable)
        now = time.time()
        if limit is not None and failures > limit:
            reason = f"{failures} task(s) failed, above the threshold of {limit}"
            if await store.call(_update, store.sync, rec.job_id, released, state="stopped", reason=reason):
                held = [r.id for r in rows if r.state == "created" and task_index(r.id) >= released]
                touched = await store.finalize([(t, "cancelled", ErrorCode.C034.value, f"rollout stopped: {reason}") for t in held])
                center.audit.record(center.center_id, "job.rollout_stopped", rec.job_id, {"failures": failures, "limit": limit, "cancelled": len(held)})
                for job_id in touched:
                    await store.finish_job_if_done(job_id)
                center.notify(touched)
            return
        wave, wave_end, state = rec.wave, rec.wave_end, rec.state
        if state == "paused":
            if now < rec.next_at:
                return
            state = "running"
            wave, wave_end = self._next_wave(spec, runnable, wave)
        elif released >= wave_end and finals >= released:
            if wave_end >= runnable:
                await store.call(_update, store.sync, rec.job_id, released, state="done")
                return
            if spec.pause > 0:
                await store.call(_update, store.sync, rec.job_id, released, state="paused", next_at=now + spec.pause)
                return
            wave, wave_end = self._next_wave(spec, runnable, wave)
        target = self._release_target(spec, runnable, released=released, finals=finals, wave_end=wave_end)
        if target <= released and (wave, state) == (rec.wave, rec.state):
            return
        deadline = now + job.timeout + center.dispatch_grace
        claimed = await store.call(_update, store.sync, rec.job_id, released, state=state, wave=wave, wave_end=wave_end, next_at=0.0, released_to=target, deadline=deadline)
        if not claimed or target <= released:
            return
        fresh = [r for r in rows if released <= task_index(r.id) < target and r.state == "created"]
        if not fresh:
            return
        job = await store.job(rec.job_id)
        assert job is not None
        hosts = await store.agent_by_id({r.agent_id for r in fresh})
        offline = [(r.id, "failed", hosts[r.agent_id].code or "E001", "host offline at release")
                   for r in fresh if r.agent_id in hosts and not center.reachable(hosts[r.agent_id])]
        if offline and job.offline == "fail":
            await store.finalize(offline)
        gone = {t for t, *_ in offline} if job.offline == "fail" else set()
        by_proxy: dict[str, list[TaskState]] = {}
        for r in fresh:
            host = hosts.get(r.agent_id)
            if r.id not in gone and host is not None and host.proxy_id:
                by_proxy.setdefault(host.proxy_id, []).append(r)
        for proxy_id, group in by_proxy.items():
            link = center.links.get(proxy_id)
            # Not inline: this may run inside the proxy's own link loop, which
            # must stay free to read the dispatch's ack (and heartbeats).
            if link is not None and link.nursery is not None:
                link.nursery.start_soon(center.dispatcher.dispatch, job, group, hosts)
        if gone:
            await center.settle({rec.job_id})

    @staticmethod
    def _next_wave(spec: Rollout, runnable: int, wave: int) -> tuple[int, int]:
        ends = wave_ends(spec, runnable)
        nxt = min(wave + 1, len(ends) - 1)
        return nxt, ends[nxt]

    async def hold(self, job_id: str, account: str, pause: bool) -> dict[str, Any]:
        """Pause (``held``) or resume a job's rollout; C004 without one, C026 once it ended."""
        store = self.center.store
        job = await store.job(job_id)
        for _ in range(10):  # the compare-and-set on ``released`` loses to a concurrent release: read again
            rec = await store.call(_record, store.sync, job_id)
            if job is None or rec is None:
                raise StarlingError(f"job {job_id} has no rollout to {'pause' if pause else 'resume'}", code=ErrorCode.C004)
            if job.state in ("done", "cancelled", "rejected") or rec.state in ("done", "stopped"):
                raise StarlingError(f"the rollout of job {job_id} is already {rec.state if rec.state in ('done', 'stopped') else job.state}", code=ErrorCode.C026)
            if pause == (rec.state == "held"):
                break
            # Resumed between waves, it waits out its pause again; otherwise it goes on now.
            state = "held" if pause else ("paused" if rec.next_at else "running")
            if await store.call(_update, store.sync, job_id, rec.released, state=state, reason=f"paused by {account}" if pause else ""):
                break
        if not pause:
            await self.advance({job_id})
        self.center.audit.record(account, "job.rollout_paused" if pause else "job.rollout_resumed", job_id, {})
        status = await self.status(job_id)
        assert status is not None
        return {"job_id": job_id, "rollout": status}

    async def status(self, job_id: str) -> dict[str, Any] | None:
        store = self.center.store
        return await store.call(rollout_status, store.sync, job_id)


# -- store access (run in the store's worker thread) --------------------------------------


def _insert(store: Store, row: RolloutRow) -> None:
    with store.engine.begin() as conn:
        conn.execute(rollouts.insert().values(**msgspec.structs.asdict(row)))


def _rollout_row(r: sa.Row[tuple[Any, ...]]) -> RolloutRow:
    return RolloutRow(**r._mapping)


def _record(store: Store, job_id: str) -> RolloutRow | None:
    with store.engine.connect() as conn:
        rec = conn.execute(sa.select(rollouts).where(rollouts.c.job_id == job_id)).first()
    return _rollout_row(rec) if rec else None


def _released(store: Store, job_ids: Sequence[str]) -> dict[str, int]:
    with store.engine.connect() as conn:
        q = sa.select(rollouts.c.job_id, rollouts.c.released, rollouts.c.state).where(rollouts.c.job_id.in_(list(job_ids)))
        return {r.job_id: r.released for r in conn.execute(q)}


def _active(store: Store, job_ids: Sequence[str]) -> list[RolloutRow]:
    if not job_ids:
        return []
    with store.engine.connect() as conn:
        q = sa.select(rollouts).where(rollouts.c.job_id.in_(list(job_ids)), rollouts.c.state.in_(["running", "paused"]))
        return [_rollout_row(r) for r in conn.execute(q)]


def _due(store: Store, now: float, running: bool = False) -> list[RolloutRow]:
    paused = sa.and_(rollouts.c.state == "paused", rollouts.c.next_at <= now)
    with store.engine.connect() as conn:
        q = sa.select(rollouts).where(sa.or_(paused, rollouts.c.state == "running") if running else paused).limit(500)
        return [_rollout_row(r) for r in conn.execute(q)]


def _task_states(store: Store, job_id: str) -> list[TaskState]:
    with store.engine.connect() as conn:
        q = sa.select(tasks.c.id, tasks.c.agent_id, tasks.c.state, tasks.c.proxy_id).where(tasks.c.job_id == job_id)
        return [TaskState(id=i, job_id=job_id, agent_id=a, state=s, proxy_id=p) for i, a, s, p in conn.execute(q)]


def _update(store: Store, job_id: str, released: int, *, released_to: int | None = None, deadline: float = 0.0, **values: Any) -> bool:
    """Compare-and-set on ``released``: only one center moves a rollout at a time.
    With ``released_to``, the newly released tasks get their real deadline."""
    if released_to is not None:
        values["released"] = released_to
    with store.engine.begin() as conn:
        n = conn.execute(rollouts.update().where(rollouts.c.job_id == job_id, rollouts.c.released == released).values(**values)).rowcount
        if n != 1:
            return False
        if released_to is not None and released_to > released and deadline:
            ids = [f"{job_id}-{i:x}" for i in range(released, released_to)]
            for i in range(0, len(ids), 500):
                conn.execute(tasks.update().where(tasks.c.id.in_(ids[i : i + 500]), tasks.c.state.in_(NON_FINAL)).values(deadline=deadline))
            # The job's deadline is what its signature expires with.
            conn.execute(jobs.update().where(jobs.c.id == job_id, jobs.c.deadline < deadline).values(deadline=deadline))
    return True


def _rehold(store: Store, job_id: str, deadline: float) -> None:
    with store.engine.begin() as conn:
        rec = conn.execute(sa.select(rollouts.c.released, rollouts.c.total).where(rollouts.c.job_id == job_id)).first()
        if rec is None:
            return
        rows = conn.execute(sa.select(tasks.c.id).where(tasks.c.job_id == job_id, tasks.c.state == "created")).scalars().all()
        held = [t for t in rows if task_index(t) >= rec.released]
        for i in range(0, len(held), 500):
            conn.execute(tasks.update().where(tasks.c.id.in_(held[i : i + 500])).values(deadline=deadline))


def rollout_status(store: Store, job_id: str) -> dict[str, Any] | None:
    rec = _record(store, job_id)
    if rec is None:
        return None
    spec = json.loads(rec.spec)
    return {
        "state": rec.state, "wave": rec.wave, "waves": len(wave_ends(msgspec.convert(spec, Rollout), rec.total)) if rec.total else 0,
        "released": rec.released, "runnable": rec.total, "reason": rec.reason, "next_at": rec.next_at or None, "spec": spec,
    }
