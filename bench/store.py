"""Benchmark the store: dispatch plus result storage of one N-host job
(default 10,000) on SQLite, PostgreSQL and MariaDB.

Each backend gets a private, migrated database (dropped afterwards) with N
registered agents; then the center's store calls for one job are timed as the
center makes them: create the job and its tasks, mark them dispatched, apply
the delivered / received / running events and store the results in the
batches proxies send (``--batch``, 1,000 by default), and finish the job.
DBAPI calls are counted (``db_calls``; an executemany is one call, although
a driver may still send one statement per row: PyMySQL does for UPDATE).

Run: ``.venv/bin/python bench/store.py [--hosts N] [--batch B] [--backends sqlite,postgresql,mariadb] [--json]``.
Prints a table; with ``--json`` the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bench._store_bench import agent_rows, main, private_db  # noqa: E402
from center._rows import JobRow, NewTask  # noqa: E402
from center._store import Store, agents  # noqa: E402
from transports import Result, TaskEvent  # noqa: E402


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    hosts, batch = args.hosts, args.batch
    with private_db(backend) as url:
        store = Store(url)
        try:
            store.migrate()
            now = time.time()
            ids = [f"a{i:07d}" for i in range(hosts)]
            with store.engine.begin() as conn:
                conn.execute(agents.insert(), agent_rows(ids, now))
            statements = [0]

            @sa.event.listens_for(store.engine, "before_cursor_execute")
            def _count(*_args: Any) -> None:
                statements[0] += 1

            job_id = "j-bench"
            deadline = now + 600
            job = JobRow(
                id=job_id, account="bench", action="exec.run", params="{}", params_raw=b"\x80",
                targets="{}", created=now, timeout=60.0, deadline=deadline, total=hosts,
                state="running", offline="fail", stream=False,
            )
            task_ids = [f"{job_id}-{i:x}" for i in range(hosts)]
            rows = [NewTask(id=t, job_id=job_id, agent_id=a, deadline=deadline, created=now) for t, a in zip(task_ids, ids, strict=True)]
            phases: dict[str, tuple[float, int]] = {}

            def timed(name: str, fn: Callable[[], Any]) -> None:
                before = statements[0]
                t0 = time.perf_counter()
                fn()
                phases[name] = (time.perf_counter() - t0, statements[0] - before)

            def batches() -> Iterator[list[str]]:
                for i in range(0, hosts, batch):
                    yield task_ids[i : i + batch]

            timed("create job + tasks", lambda: store.create_job(job, rows))
            timed("mark dispatched", lambda: store.mark(task_ids, "dispatched", time.time(), "proxy-1"))

            def events() -> None:
                for state in ("delivered", "received", "running"):
                    for chunk in batches():
                        store.apply_events([TaskEvent(t, state, time.time()) for t in chunk])

            timed("events (3 per task)", events)

            def results() -> None:
                for chunk in batches():
                    t = time.time()
                    store.store_results([
                        Result(task_id=tid, state="succeeded", exit_code=0, stdout="ok\n", started=t - 0.01, finished=t)
                        for tid in chunk
                    ])

            timed("results", results)
            timed("finish job", lambda: store.finish_job_if_done(job_id))
            with store.engine.connect() as conn:
                done = conn.execute(sa.text("SELECT count(*) FROM tasks WHERE job_id = :j AND state = 'succeeded'"), {"j": job_id}).scalar()
            assert done == hosts, f"{backend}: {done} of {hosts} tasks stored as succeeded"
        finally:
            store.engine.dispose()
    total = sum(s for s, _ in phases.values())
    return {
        "backend": backend,
        "hosts": hosts,
        "phases": {k: {"seconds": round(s, 3), "db_calls": n} for k, (s, n) in phases.items()},
        "total_seconds": round(total, 3),
        "db_calls": sum(n for _, n in phases.values()),
        "tasks_per_second": round(hosts / total) if total else None,
    }


if __name__ == "__main__":
    main(
        __doc__,
        lambda p: p.add_argument("--batch", type=int, default=1000, help="events and results per proxy batch"),
        run_backend,
        lambda a: f"store: dispatch + results of one {a.hosts:,}-host job, batches of {a.batch}",
        "phases",
        lambda ph: f"{ph['seconds']:>10.3f}s {ph['db_calls']:>4} calls",
        22,
        {
            "total": lambda o: f"{o['total_seconds']:>10.3f}s {o['db_calls']:>4} calls",
            "tasks/s": lambda o: f"{o.get('tasks_per_second') or 0:>22,}",
        },
    )
