"""Fleet self-upgrade, driven by the center: an ``agent.upgrade`` job is final only when
the host is back on the new version.

``starling upgrade`` (or any caller of ``POST /v1/jobs``) submits one ``agent.upgrade``
job with rollout controls (:mod:`center._rollout`: a canary wave first, growing waves,
an error threshold, pause/resume, cancel to abort). On the host, the action answers at
once ("installing TO, I run FROM") and hands the work to a helper that installs the
package, restarts the agent and rolls back if the new version does not connect
(plugins/agent/upgrade.py). A task that ended there would let the next wave go before
anything was proved, so the center keeps it open:

* the action's ``succeeded`` result is stored with the task left ``running``
  ("upgrading"), its deadline moved to the job's ``wait`` plus a margin;
* the host re-registers (every agent start does, with its package version): on the new
  version the task succeeds ("upgraded FROM -> TO"); on any other version it fails with
  A026 (the helper rolled the host back);
* the host is not back in time: the sweeper fails it with A026 too.

Only then does the rollout count the task final, so a wave's failures stop the next
wave. Every task keeps ``{"from", "to", "result", "now"}`` in its data: the record of
old -> new version per host. The agents table holds each host's running version.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import bindparam

from transports import ErrorCode, Result, decode_value

from ._rows import DueTask, UpgradeTask
from ._store import NON_FINAL, Store, agents, jobs, tasks

if TYPE_CHECKING:
    from ._center import Center

ACTION = "agent.upgrade"
#: Seconds beyond the job's ``wait`` before an upgrade that did not come back fails
#: (the helper's own install time and the agent's registration retries).
MARGIN = 90.0
DEFAULT_WAIT = 120


class Upgrades:
    """The center's side of ``agent.upgrade`` jobs."""

    def __init__(self, center: Center) -> None:
        self.center = center

    async def intercept(self, results: list[Result]) -> tuple[list[Result], set[str]]:
        """Take the scheduled ``agent.upgrade`` results out of a batch; returns the
        results left to store as usual, and the job ids this changed."""
        ok = [r for r in results if r.state == "succeeded"]
        if not ok:
            return results, set()
        store = self.center.store
        mine = await store.call(_upgrade_tasks, store.sync, [r.task_id for r in ok])
        if not mine:
            return results, set()
        held = [r for r in ok if r.task_id in mine]
        touched = await store.call(_hold, store.sync, held, mine, time.time())
        ids = {r.task_id for r in held}
        return [r for r in results if r.task_id not in ids], touched

    async def registered(self, agent_id: str, version: str) -> None:
        """A host registered with ``version``: conclude its upgrades in flight."""
        await self.registered_many({agent_id: version})

    async def registered_many(self, versions: dict[str, str]) -> None:
        """Hosts registered (agent id -> version), a batch of enrollments: one query."""
        if not versions:
            return
        store = self.center.store
        ids = list(versions)
        touched: set[str] = set()
        for i in range(0, len(ids), 500):
            touched |= await store.call(_conclude, store.sync, {a: versions[a] for a in ids[i : i + 500]})
        if touched:
            await self.center.settle(touched)


def classify_overdue(row: DueTask) -> tuple[str, str, str, str] | None:
    """The sweeper's verdict on an upgrade that did not come back in time."""
    if row.action == ACTION and row.state == "running":
        return (row.id, "failed", ErrorCode.A026.value,
                "the host did not come back on the new version in time; its agent rolls back to the version it ran")
    return None


# -- store access (run in the store's worker thread) --------------------------------------


def _upgrade_tasks(store: Store, task_ids: Sequence[str]) -> dict[str, UpgradeTask]:
    """The non-final tasks among these that belong to ``agent.upgrade`` jobs."""
    q = (
        sa.select(tasks.c.id, tasks.c.agent_id, jobs.c.params)
        .select_from(tasks.join(jobs, jobs.c.id == tasks.c.job_id))
        .where(tasks.c.id.in_(list(task_ids)), jobs.c.action == ACTION, tasks.c.state.in_(NON_FINAL))
    )
    with store.engine.connect() as conn:
        return {i: UpgradeTask(id=i, agent_id=a, params=p) for i, a, p in conn.execute(q)}


def _hold(store: Store, results: list[Result], info: dict[str, UpgradeTask], now: float) -> set[str]:
    """Store each scheduled upgrade as ``running`` until its host is back, unless the
    host already registered with the new version (a result re-sent after the restart)."""
    touched: set[str] = set()
    with store.engine.begin() as conn:
        for r in results:
            meta = info[r.task_id]
            try:
                sched = decode_value(r.data) if r.data else {}
            except Exception:
                sched = {}
            sched = sched if isinstance(sched, dict) else {}
            try:
                wait = float(json.loads(meta.params or "{}").get("wait", DEFAULT_WAIT))
            except (ValueError, AttributeError):
                wait = float(DEFAULT_WAIT)
            frm, to = str(sched.get("from", "")), str(sched.get("to", ""))
            host = conn.execute(sa.select(agents.c.version).where(agents.c.id == meta.agent_id)).first()
            doc = {"from": frm, "to": to, "result": "upgrading", "now": frm}
            values: dict[str, Any] = {"stdout": r.stdout, "stderr": r.stderr, "running": r.started or now}
            # The action refuses to run on a host already on ``to`` (A002), so a host that
            # runs ``to`` now re-registered with it after the action ran.
            if host is not None and to and host.version == to:
                values |= {"state": "succeeded", "code": "", "message": f"upgraded {frm} -> {to}", "finished": now,
                           "data": json.dumps(doc | {"result": "upgraded", "now": to})}
            else:
                values |= {"state": "running", "message": f"installing {to}; waiting for the host to come back on it",
                           "deadline": now + wait + MARGIN, "data": json.dumps(doc)}
            n = conn.execute(tasks.update().where(tasks.c.id == r.task_id, tasks.c.state.in_(NON_FINAL)).values(**values)).rowcount
            if n:
                touched.add(r.task_id.rsplit("-", 1)[0])
                if values["state"] == "running":
                    # The job's signature expiry must not end before its tasks do.
                    job_id = r.task_id.rsplit("-", 1)[0]
                    conn.execute(jobs.update().where(jobs.c.id == job_id, jobs.c.deadline < values["deadline"]).values(deadline=values["deadline"]))
    return touched


def _conclude(store: Store, versions: dict[str, str]) -> set[str]:
    """Upgrades of these hosts (agent id -> the version it came back on) waiting
    for them to come back: done, or rolled back."""
    q = (
        sa.select(tasks.c.id, tasks.c.job_id, tasks.c.data, tasks.c.agent_id)
        .select_from(tasks.join(jobs, jobs.c.id == tasks.c.job_id))
        .where(tasks.c.agent_id.in_(list(versions)), tasks.c.state == "running", jobs.c.action == ACTION)
    )
    now = time.time()
    rows = []
    with store.engine.begin() as conn:
        for t in conn.execute(q).all():
            version = versions[t.agent_id]
            try:
                doc = json.loads(t.data or "{}")
            except ValueError:
                continue
            if not isinstance(doc, dict) or doc.get("result") != "upgrading":
                continue  # not yet scheduled by the agent: the action itself is still running
            frm, to = doc.get("from", ""), doc.get("to", "")
            if version == to:
                row = {"st": "succeeded", "code": "", "msg": f"upgraded {frm} -> {to}", "res": "upgraded"}
            else:
                row = {"st": "failed", "code": ErrorCode.A026.value, "msg": f"the host came back on {version}, not {to}: the upgrade was rolled back",
                       "res": "rolled back"}
            rows.append({"tid": t.id, "job": t.job_id, "st": row["st"], "code": row["code"], "msg": row["msg"], "fin": now,
                         "data": json.dumps(doc | {"result": row["res"], "now": version})})
        if rows:
            conn.execute(
                tasks.update().where(tasks.c.id == bindparam("tid"), tasks.c.state == "running").values(
                    state=bindparam("st"), code=bindparam("code"), message=bindparam("msg"), finished=bindparam("fin"), data=bindparam("data"),
                ),
                [{k: v for k, v in r.items() if k != "job"} for r in rows],
            )
    return {r["job"] for r in rows}
