"""The simfleet's executor and journal on their own (fast, no processes)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import trio
import trio.lowlevel

from contrib.simfleet import FleetJournal, interpret
from contrib.simfleet._executor import execute
from transports import JobSpec, Result, Task, encode_value


def _task(task_id: str, cmd: str = "echo hi", timeout: float = 5) -> Task:
    job = JobSpec(job_id="j1", action="exec.run", params=msgspec.Raw(encode_value({"cmd": cmd})), timeout=timeout, deadline=0)
    return Task(task_id=task_id, job=job)


async def test_interpret_safe_subset() -> None:
    assert await interpret("echo a b; echo c") == (0, "a b\nc\n")
    assert await interpret('echo "$X" >> /tmp/nowhere; echo ok') == (0, "ok\n")
    assert await interpret("echo x && exit 3; echo never") == (3, "x\n")
    assert await interpret("rm -rf /; false") == (1, "")
    assert await interpret("sleep nope") == (1, "")
    with trio.move_on_after(0.05) as scope:
        await interpret("sleep 10")
    assert scope.cancelled_caught


async def test_execute_shapes_like_the_agent() -> None:
    res = await execute("t1", _task("t1", "echo out; exit 4").job, trio.CancelScope())
    assert (res.state, res.code, res.exit_code, res.stdout) == ("failed", "A008", 4, "out\n")
    res = await execute("t2", _task("t2", "sleep 5", timeout=0.05).job, trio.CancelScope())
    assert (res.state, res.code) == ("timed_out", "A005")
    scope = trio.CancelScope()
    scope.cancel()
    res = await execute("t3", _task("t3", "sleep 5").job, scope)
    assert (res.state, res.code) == ("cancelled", "A006")
    bad = JobSpec(job_id="j", action="exec.run", params=msgspec.Raw(encode_value({"cmd": 7})), timeout=1, deadline=0)
    assert (await execute("t4", bad, trio.CancelScope())).code == "A002"


def test_journal_never_runs_twice_and_recovers(tmp_path: Path) -> None:
    j = FleetJournal(tmp_path / "j.db")
    assert j.receive("h1", _task("t1"))[0] is True
    assert j.receive("h1", _task("t1")) == (False, "received", None)
    j.receive("h1", _task("t2"))
    j.receive("h2", _task("t3"))
    j.start("h1", "t1")
    j.start("h2", "t3")
    j.finish(Result(task_id="t3", state="succeeded", stdout="x"))
    j.close()
    # A restart: t1 was running (A007, not re-run), t2 never started (run it).
    j = FleetJournal(tmp_path / "j.db")
    interrupted, pending = j.recover()
    assert [(a, r.task_id, r.code) for a, r in interrupted] == [("h1", "t1", "A007")]
    assert [(a, t.task_id) for a, t in pending] == [("h1", "t2")]
    is_new, state, result = j.receive("h1", _task("t1"))
    assert (is_new, state, result.code if result else None) == (False, "failed", "A007")
    assert [r.task_id for r in j.unacked("h1")] == ["t1"] and [r.task_id for r in j.unacked("h2")] == ["t3"]
    j.ack(["t1", "t3"])
    assert j.unacked("h1") == [] and j.agents_with_unacked() == set()
    assert j.executions() == 2 and j.executed_twice() == []
    j.start("h1", "t1")  # what a bug would do: the table shows it
    assert j.executed_twice() == [("t1", 2)]


async def test_journal_group_commit(tmp_path: Path) -> None:
    """Inside trio, a burst of writes shares one commit; flush() (called before
    any message leaves) makes them durable; reads see them before the commit."""
    import sqlite3

    j = FleetJournal(tmp_path / "j.db")
    other = sqlite3.connect(str(tmp_path / "j.db"))  # what a restarted process would find
    for i in range(100):
        assert j.receive("h1", _task(f"g{i}"))[0] is True
    assert j.receive("h1", _task("g7")) == (False, "received", None)  # seen before the commit
    assert other.execute("SELECT count(*) FROM tasks").fetchone()[0] == 0
    j.flush()
    assert other.execute("SELECT count(*) FROM tasks").fetchone()[0] == 100
    assert j.commits == 1
    j.start("h1", "g1")
    await trio.lowlevel.checkpoint()  # the next scheduler pass commits on its own
    await trio.lowlevel.checkpoint()
    assert other.execute("SELECT count(*) FROM executions").fetchone()[0] == 1
    assert j.commits == 2
    other.close()
    j.close()
