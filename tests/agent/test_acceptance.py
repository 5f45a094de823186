"""What a real agent accepts: only what the center signed, with sane times,
issued after the agent's epoch. Refused tasks are never journaled and never run
(each test's command would create a marker file)."""

from __future__ import annotations

import time

import msgspec

from transports import JobSpec, Task, TaskRef, encode_value
from transports._signing import DEFAULT_MAX_LIFETIME, sign_job_spec


def _signed(memory_agent, task_id: str, cmd: str, *, issued: float, expires: float, timeout: float = 10) -> Task:
    """A task signed with the center's key (the harness holds it), with chosen times."""
    spec = JobSpec(job_id=f"job-{task_id}", action="exec.run", params=msgspec.Raw(encode_value({"cmd": cmd})),
                   timeout=timeout, deadline=expires)
    signed, refs = sign_job_spec(memory_agent._key, memory_agent._key_id, spec,
                                 [TaskRef(task_id=task_id, agent_id=memory_agent.agent_id)], expires=expires, issued=issued)
    return Task(task_id=task_id, job=signed, proof=refs[0].proof, index=refs[0].index)


async def _refused(memory_agent, task: Task, code: str, marker) -> None:
    out = await memory_agent.deliver(task)
    assert (out.result.state, out.code) == ("failed", code), out.result
    assert not marker.exists(), "a refused task ran"
    assert task.task_id not in {r.task_id for r in memory_agent.agent.journal.unacked()}
    assert memory_agent.agent.journal.counts() == {}, "a refused task was journaled"


async def test_an_over_long_timeout_is_refused(memory_agent, tmp_path):
    marker = tmp_path / "ran"
    now = time.time()
    task = _signed(memory_agent, "long-timeout", f"touch {marker}", issued=now, expires=now + 60, timeout=8 * 86400)
    await _refused(memory_agent, task, "A018", marker)


async def test_an_over_long_lifetime_is_refused(memory_agent, tmp_path):
    marker = tmp_path / "ran"
    now = time.time()
    task = _signed(memory_agent, "long-life", f"touch {marker}", issued=now, expires=now + DEFAULT_MAX_LIFETIME + 60)
    await _refused(memory_agent, task, "A018", marker)


async def test_a_task_issued_before_the_epoch_is_refused(memory_agent, tmp_path):
    marker = tmp_path / "ran"
    epoch = memory_agent.agent.journal.epoch
    task = _signed(memory_agent, "old", f"touch {marker}", issued=epoch - 3600, expires=time.time() + 60)
    await _refused(memory_agent, task, "A019", marker)


async def test_a_task_from_the_future_is_refused(memory_agent, tmp_path):
    marker = tmp_path / "ran"
    now = time.time()
    task = _signed(memory_agent, "future", f"touch {marker}", issued=now + 3600, expires=now + 7200)
    await _refused(memory_agent, task, "A019", marker)


async def test_an_expired_task_is_refused(memory_agent, tmp_path):
    marker = tmp_path / "ran"
    now = time.time()
    task = _signed(memory_agent, "expired", f"touch {marker}", issued=now - 600, expires=now - 300)
    await _refused(memory_agent, task, "A011", marker)


async def test_a_sane_task_runs(memory_agent, tmp_path):
    marker = tmp_path / "ran"
    now = time.time()
    out = await memory_agent.deliver(_signed(memory_agent, "sane", f"touch {marker}", issued=now - 1, expires=now + 60))
    assert out.ok and marker.exists()
