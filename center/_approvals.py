"""Approvals: a held job runs only when a second, independent account says so.

Two people means two keys that do not answer to one another: the submitter
cannot approve, and neither can an account that created the submitter's
account (directly or through others) — one stolen key cannot mint a
submitter and approve its jobs. A held job's deadline starts at approval.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from transports import ErrorCode, StarlingError

from ._accounts import creators, load_account

if TYPE_CHECKING:
    from ._center import Center


async def decide(center: Center, job_id: str, approver: str, approve: bool) -> dict[str, Any]:
    """``approver`` approves (or rejects) the held job ``job_id``."""
    store = center.store
    job = await store.job(job_id)
    if job is None:
        raise StarlingError(f"no job {job_id}", code=ErrorCode.C004)
    if job.state != "pending_approval":
        raise StarlingError(f"job {job_id} is {job.state}, not waiting for approval", code=ErrorCode.C001)
    acct = await store.call(load_account, store.sync, approver)
    if not acct.approver:
        raise StarlingError("this account may not approve jobs", code=ErrorCode.C009)
    if approver == job.account:
        raise StarlingError("a job needs a second person: its submitter cannot approve it", code=ErrorCode.C009)
    if approve and approver in await store.call(creators, store.sync, job.account):
        raise StarlingError("a job needs a second person: its submitter's account was created by the approver", code=ErrorCode.C009)
    center.audit.record(approver, "job.approve" if approve else "job.reject", job_id, {"submitter": job.account})
    if not approve:
        await store.set_job_state(job_id, "rejected")
        rows = await store.running_tasks(job_id)
        touched = await store.finalize([(r.id, "cancelled", ErrorCode.C012.value, f"rejected by {approver}") for r in rows])
        await center.settle(touched | {job_id})
        return {"job_id": job_id, "state": "rejected"}
    deadline = time.time() + job.timeout + center.dispatch_grace
    await store.set_deadline(job_id, deadline)
    await center.rollouts.rehold(job_id)
    await store.set_job_state(job_id, "running")
    job = await store.job(job_id)
    assert job is not None
    rows = await store.running_tasks(job_id)
    agents = await store.agent_by_id({r.agent_id for r in rows})
    offline = [(r.id, "failed", agents[r.agent_id].code or "E001", "host offline at approval") for r in rows if not center.reachable(agents[r.agent_id])]
    if offline and job.offline == "fail":
        await store.finalize(offline)
    gone = {t for t, *_ in offline}
    rows = await center.rollouts.held_filter(rows)
    center.dispatcher.send_soon(job, [r for r in rows if r.id not in gone], agents)
    await center.settle({job_id})
    return {"job_id": job_id, "state": "running", "approved_by": approver}
