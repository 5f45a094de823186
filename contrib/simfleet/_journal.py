"""One durable journal (SQLite) for every simulated identity of a simfleet.

The semantics are the agent's (:mod:`agent_core._journal`), keyed by task id
with the owning agent beside it: a re-delivered task id is never executed
twice, a task that was running when the process died is reported failed with
A007 and not run again, and results survive restarts until acknowledged.

On top of that, ``executions`` counts every execution start per task id. The
row is written in the same transaction that marks the task running, and before
the work begins, so "zero tasks executed twice" can be proven from this table
even across ``kill -9`` of the simfleet and a restart.
"""

from __future__ import annotations

import time
from pathlib import Path

import trio

from agent_core.host import journal_epoch, open_journal_db
from transports import ErrorCode, Result, Task, decode, encode

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id  TEXT PRIMARY KEY,
    agent    TEXT NOT NULL,
    job_id   TEXT NOT NULL,
    deadline REAL NOT NULL,
    received REAL NOT NULL,
    state    TEXT NOT NULL,
    task     BLOB,
    result   BLOB,
    acked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tasks_unacked ON tasks(agent) WHERE acked = 0 AND result IS NOT NULL;
CREATE TABLE IF NOT EXISTS executions (
    task_id TEXT NOT NULL,
    agent   TEXT NOT NULL,
    at      REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_task ON executions(task_id);
CREATE TABLE IF NOT EXISTS enrollments (
    sn       TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    data     BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS enrollments_agent ON enrollments(agent_id);
"""


class AgentJournal:
    """One identity's view of the shared journal: the
    :class:`agent_core._session.SessionJournal` protocol."""

    __slots__ = ("shared", "agent")

    def __init__(self, shared: FleetJournal, agent: str) -> None:
        self.shared = shared
        self.agent = agent

    @property
    def epoch(self) -> float:
        return self.shared.epoch

    def receive(self, task: Task) -> tuple[bool, str, Result | None]:
        return self.shared.receive(self.agent, task)

    def mark_running(self, task_id: str) -> None:
        self.shared.start(self.agent, task_id)

    def finish(self, result: Result) -> None:
        self.shared.finish(result)

    def flush(self) -> None:
        self.shared.flush()

    def ack(self, task_ids: list[str]) -> None:
        self.shared.ack(task_ids)

    def unacked(self) -> list[Result]:
        return self.shared.unacked(self.agent)


class FleetJournal:
    """The shared journal, called from the trio thread.

    Group commit: inside trio, writes join one open transaction that commits
    at the next scheduler pass (``run_sync_soon``), and at the latest in
    :meth:`flush`, which every session calls before a message leaves the
    process (:meth:`agent_core._session.AgentSession.send`). So whatever a
    message reports is durable before the message is sent, and thousands of
    identities receiving a job in one burst share a handful of commits
    instead of paying four each. Reads on this connection see the open
    transaction, so a re-delivered task is recognised before its commit. A
    ``kill -9`` loses only writes nothing outside the process has heard of.
    Outside trio (tests, tools) every write commits at once.

    :param path: the SQLite file (created when missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = open_journal_db(self.path, _SCHEMA)
        #: Tasks issued before this are refused (A019), as the agent does.
        self.epoch = journal_epoch(self._db)
        self.commits = 0

    def close(self) -> None:
        self.flush()
        self._db.close()

    def _begin(self) -> None:
        """Open the group transaction if none is open (inside trio only)."""
        if self._db.in_transaction:
            return
        try:
            token = trio.lowlevel.current_trio_token()
        except RuntimeError:
            return  # not in trio: autocommit
        self._db.execute("BEGIN")
        token.run_sync_soon(self.flush)

    def flush(self) -> None:
        """Commit the open group transaction, if any."""
        if self._db.in_transaction:
            self._db.execute("COMMIT")
            self.commits += 1

    # -- tasks -------------------------------------------------------------------------

    def receive(self, agent: str, task: Task) -> tuple[bool, str, Result | None]:
        """Record a task for ``agent``.

        :returns: ``(is_new, state, result)``; when not new, what is already recorded.
        """
        self._begin()
        cur = self._db.execute(
            "INSERT OR IGNORE INTO tasks(task_id, agent, job_id, deadline, received, state, task) VALUES (?,?,?,?,?,?,?)",
            (task.task_id, agent, task.job.job_id, task.job.deadline, time.time(), "received", encode(task)),
        )
        if cur.rowcount == 1:
            return True, "received", None
        state, blob = self._db.execute("SELECT state, result FROM tasks WHERE task_id=?", (task.task_id,)).fetchone()
        return False, state, self._result(blob)

    def start(self, agent: str, task_id: str) -> None:
        """Mark the task running and count one execution, atomically, before
        the work starts."""
        self._begin()
        if self._db.in_transaction:
            self._both_running(agent, task_id)
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._both_running(agent, task_id)

    def _both_running(self, agent: str, task_id: str) -> None:
        self._db.execute("UPDATE tasks SET state='running' WHERE task_id=?", (task_id,))
        self._db.execute("INSERT INTO executions(task_id, agent, at) VALUES (?,?,?)", (task_id, agent, time.time()))

    def finish(self, result: Result) -> None:
        self._begin()
        self._db.execute(
            "UPDATE tasks SET state=?, result=?, acked=0 WHERE task_id=?",
            (result.state, encode(result), result.task_id),
        )

    def ack(self, task_ids: list[str]) -> None:
        self._begin()
        self._db.executemany(
            "UPDATE tasks SET acked=1 WHERE task_id=? AND result IS NOT NULL", [(t,) for t in task_ids]
        )

    def unacked(self, agent: str, finished_before: float | None = None) -> list[Result]:
        """Results of ``agent`` the center has not acknowledged (optionally only
        those finished before a time, for periodic re-sends)."""
        rows = self._db.execute(
            "SELECT result FROM tasks WHERE agent=? AND acked=0 AND result IS NOT NULL ORDER BY received", (agent,)
        ).fetchall()
        out = [r for r in (self._result(blob) for (blob,) in rows) if r is not None]
        if finished_before is not None:
            out = [r for r in out if r.finished < finished_before]
        return out

    def agents_with_unacked(self) -> set[str]:
        rows = self._db.execute("SELECT DISTINCT agent FROM tasks WHERE acked=0 AND result IS NOT NULL").fetchall()
        return {a for (a,) in rows}

    def recover(self) -> tuple[list[tuple[str, Result]], list[tuple[str, Task]]]:
        """After a restart: tasks that were running become A007 results (never
        re-run); tasks received but never started are returned to be run.

        :returns: ``(interrupted, pending)`` as ``(agent, item)`` pairs.
        """
        now = time.time()
        interrupted: list[tuple[str, Result]] = []
        for task_id, agent in self._db.execute(
            "SELECT task_id, agent FROM tasks WHERE state='running' AND result IS NULL"
        ).fetchall():
            res = Result(
                task_id=task_id, state="failed", code=ErrorCode.A007.value,
                message=ErrorCode.A007.meaning, finished=now,
            )
            self.finish(res)
            interrupted.append((agent, res))
        pending: list[tuple[str, Task]] = []
        for agent, blob in self._db.execute(
            "SELECT agent, task FROM tasks WHERE state='received' AND result IS NULL"
        ).fetchall():
            task = decode(blob)
            assert isinstance(task, Task)
            pending.append((agent, task))
        return interrupted, pending

    @staticmethod
    def _result(blob: bytes | None) -> Result | None:
        if blob is None:
            return None
        msg = decode(blob)
        assert isinstance(msg, Result)
        return msg

    # -- enrollments (so a restart can reuse them when the center is down) -----------

    def save_enrollment(self, sn: str, agent_id: str, data: bytes) -> None:
        self._begin()  # in the group transaction: thousands enroll within seconds
        self._db.execute("INSERT OR REPLACE INTO enrollments(sn, agent_id, data) VALUES (?,?,?)", (sn, agent_id, data))

    def sn_of(self, agent_id: str) -> str | None:
        row = self._db.execute("SELECT sn FROM enrollments WHERE agent_id=?", (agent_id,)).fetchone()
        return row[0] if row else None

    def enrollment(self, sn: str) -> bytes | None:
        row = self._db.execute("SELECT data FROM enrollments WHERE sn=?", (sn,)).fetchone()
        return row[0] if row else None

    # -- figures for tests -------------------------------------------------------------

    def executions(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM executions").fetchone()[0])

    def executed_twice(self) -> list[tuple[str, int]]:
        """Task ids executed more than once, with their count (must be empty)."""
        return self._db.execute(
            "SELECT task_id, count(*) FROM executions GROUP BY task_id HAVING count(*) > 1"
        ).fetchall()

    def counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT state, count(*) FROM tasks GROUP BY state").fetchall())
