"""The agent's durable journal (SQLite): every task it received and every
result not yet acknowledged by the center.

It is what makes delivery exactly-once per host: a re-delivered task id is never
run again (its recorded state or result is re-sent instead), a task that was
running when the agent died is reported as interrupted (A020 when its process
tree is known to be dead, else A007) rather than run a second time, and results
survive restarts until the center acknowledges them.

The journal also keeps its *epoch*: the time it was created. A journal that is
lost (deleted, disk replaced, host reinstalled) is created afresh with a new
epoch, and the agent refuses every task issued before it (A019): the ids such a
task would be checked against are gone, so it might have run already.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from transports import ErrorCode, Result, Task, decode, encode

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id  TEXT PRIMARY KEY,
    job_id   TEXT NOT NULL,
    action   TEXT NOT NULL,
    deadline REAL NOT NULL,
    received REAL NOT NULL,
    state    TEXT NOT NULL,
    task     BLOB,
    result   BLOB,
    acked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tasks_unacked ON tasks(acked) WHERE acked = 0;
"""

_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL NOT NULL);"

#: What recover() reports for a task that was running when the agent stopped,
#: given its id: the code and the message of its result.
Interrupted = Callable[[str], tuple[ErrorCode, str]]


def open_journal_db(path: str | Path, schema: str) -> sqlite3.Connection:
    """An autocommit SQLite connection in WAL mode with ``schema`` applied: commits
    in microseconds and survives a killed process (not a power cut: NORMAL sync)."""
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db


def journal_epoch(db: sqlite3.Connection) -> float:
    """The journal's epoch: the time its database was created (recorded once,
    in the database itself, so a fresh database always has a fresh epoch)."""
    db.execute(_META)
    db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('epoch', ?)", (time.time(),))
    return float(db.execute("SELECT value FROM meta WHERE key='epoch'").fetchone()[0])


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = open_journal_db(self.path, _SCHEMA)
        #: Tasks issued before this time are refused (A019); see the module docstring.
        self.epoch = journal_epoch(self._db)

    def close(self) -> None:
        self._db.close()

    def receive(self, task: Task) -> tuple[bool, str, Result | None]:
        """Record a task. Returns ``(is_new, state, result)``; when not new, the
        state and result already recorded."""
        task_id = task.task_id
        cur = self._db.execute(
            "INSERT OR IGNORE INTO tasks(task_id, job_id, action, deadline, received, state, task) VALUES (?,?,?,?,?,?,?)",
            (task_id, task.job.job_id, task.job.action, task.job.deadline, time.time(), "received", encode(task)),
        )
        if cur.rowcount == 1:
            return True, "received", None
        row = self._db.execute("SELECT state, result FROM tasks WHERE task_id=?", (task_id,)).fetchone()
        result = decode(row[1]) if row[1] is not None else None
        assert result is None or isinstance(result, Result)
        return False, row[0], result

    def mark_running(self, task_id: str) -> None:
        self._db.execute("UPDATE tasks SET state='running' WHERE task_id=?", (task_id,))

    def finish(self, result: Result) -> None:
        self._db.execute(
            "UPDATE tasks SET state=?, result=?, acked=0 WHERE task_id=?",
            (result.state, encode(result), result.task_id),
        )

    def flush(self) -> None:
        """Every write commits at once (autocommit): nothing to do."""

    def ack(self, task_ids: list[str]) -> None:
        self._db.executemany("UPDATE tasks SET acked=1 WHERE task_id=? AND result IS NOT NULL", [(t,) for t in task_ids])

    def unacked(self) -> list[Result]:
        rows = self._db.execute("SELECT result FROM tasks WHERE acked=0 AND result IS NOT NULL ORDER BY received").fetchall()
        out = []
        for (blob,) in rows:
            msg = decode(blob)
            assert isinstance(msg, Result)
            out.append(msg)
        return out

    def recover(self, describe: Interrupted | None = None) -> tuple[list[Result], list[Task]]:
        """After a restart: tasks that were running become failed results (never
        re-run); tasks received but not started are returned to be run.

        :param describe: gives the code and message of each interrupted task
            (the agent says whether its process tree died with it); by default
            A007 with its catalogue meaning.
        """
        now = time.time()
        interrupted = []
        for task_id, _state in self._db.execute("SELECT task_id, state FROM tasks WHERE state='running' AND result IS NULL").fetchall():
            code, message = describe(task_id) if describe is not None else (ErrorCode.A007, ErrorCode.A007.meaning)
            res = Result(
                task_id=task_id,
                state="failed",
                code=code.value,
                message=message,
                finished=now,
            )
            self.finish(res)
            interrupted.append(res)
        pending: list[Task] = []
        for (blob,) in self._db.execute("SELECT task FROM tasks WHERE state='received' AND result IS NULL").fetchall():
            task = decode(blob)
            assert isinstance(task, Task)
            pending.append(task)
        return interrupted, pending

    def prune(self, keep_seconds: float = 7 * 86400) -> int:
        cur = self._db.execute("DELETE FROM tasks WHERE acked=1 AND deadline < ?", (time.time() - keep_seconds,))
        return cur.rowcount

    def counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT state, count(*) FROM tasks GROUP BY state").fetchall())
