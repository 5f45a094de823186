"""Benchmark the store's readers: how long each takes to read N rows (default
10,000) into what it returns, on SQLite, PostgreSQL and MariaDB.

The rows are written with plain INSERTs (the same for any version of the
store), so this script also measures an older checkout of the code: copy it
and ``bench/_store_bench.py`` into that checkout's ``bench/`` and run it there. Three jobs of N tasks each:
one past its deadline (``due_tasks``), one not yet dispatched to hosts online
on ``proxy-1`` (``stuck_tasks``, ``undelivered_for``), one finished with
outputs and JSON data (``job_tasks``, ``tasks_by_id``). Each reader runs
``--repeat`` times; the table shows the least process CPU time of its runs
(what the driver's decoding and the store's conversion into records cost this
process; SQLite's own work is in-process too), which other work on a shared
machine disturbs far less than wall time, and the rows it returned. ``--json``
has the fastest wall time as well.

Run: ``.venv/bin/python bench/store_reads.py [--hosts N] [--repeat R] [--backends sqlite,postgresql,mariadb] [--json]``.
Prints a table; with ``--json`` the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._store_bench import agent_rows, main, private_db  # noqa: E402
from center._store import Store, agents, jobs, tasks  # noqa: E402


def _populate(store: Store, hosts: int, now: float) -> list[str]:
    ids = [f"a{i:07d}" for i in range(hosts)]
    health = json.dumps({"cpus": 8, "load1": 0.4, "mem_total": 1 << 34, "mem_available": 1 << 33, "disks": [{"mount": "/", "total": 1 << 40, "used": 1 << 39}]})
    job = {"account": "bench", "action": "exec.run", "params": "{}", "params_raw": b"\x80", "targets": "{}", "timeout": 60.0, "total": hosts,
           "offline": "fail", "stream": False}
    task = {"code": "", "message": "", "exit_code": None, "stdout": "", "stderr": "", "data": None, "truncated": False, "proxy_id": None,
            "attempts": 0, "dispatched": None, "delivered": None, "received": None, "running": None, "finished": None}
    with store.engine.begin() as conn:
        rows = agent_rows(ids, now, os="Debian 12", tags='["web", "bench"]', version="1.0", health=health, registered=now - 3600, catalogue="")
        for i, row in enumerate(rows):
            row["ip"] = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        conn.execute(agents.insert(), rows)
        conn.execute(jobs.insert(), [
            job | {"id": "j-due", "created": now - 600, "deadline": now - 10, "state": "running"},
            job | {"id": "j-stuck", "created": now - 60, "deadline": now + 600, "state": "running"},
            job | {"id": "j-done", "created": now - 30, "deadline": now + 600, "state": "done", "finished": now - 1},
        ])
        for job_id, extra in (
            ("j-due", {"state": "running", "deadline": now - 10, "created": now - 600}),
            ("j-stuck", {"state": "created", "deadline": now + 600, "created": now - 60}),
            ("j-done", {"state": "succeeded", "deadline": now + 600, "created": now - 30, "exit_code": 0, "stdout": "ok " * 20 + "\n",
                        "data": '{"took": 0.01, "lines": [1, 2, 3]}', "proxy_id": "proxy-1", "attempts": 1, "dispatched": now - 29,
                        "delivered": now - 28.9, "received": now - 28.8, "running": now - 28.7, "finished": now - 28}),
        ):
            conn.execute(tasks.insert(), [task | extra | {"id": f"{job_id}-{i:x}", "job_id": job_id, "agent_id": a} for i, a in enumerate(ids)])
    return ids


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    hosts, repeat = args.hosts, args.repeat
    with private_db(backend) as url:
        store = Store(url)
        try:
            store.migrate()
            now = time.time()
            ids = _populate(store, hosts, now)
            done_ids = [f"j-done-{i:x}" for i in range(min(hosts, 500))]
            readers: dict[str, Callable[[], Any]] = {
                "select_agents(all)": lambda: store.select_agents(all_hosts=True),
                "agent_by_id": lambda: store.agent_by_id(ids),
                "job_tasks": lambda: store.job_tasks("j-done"),
                "tasks_by_id(500)": lambda: store.tasks_by_id("j-done", done_ids),
                "due_tasks": lambda: store.due_tasks(now, limit=hosts),
                "stuck_tasks": lambda: store.stuck_tasks(now, now, ["proxy-1"], limit=hosts),
                "undelivered_for": lambda: store.undelivered_for(ids, now),
                "running_tasks": lambda: store.running_tasks("j-stuck"),
                "list_jobs": lambda: store.list_jobs(50),
            }
            out: dict[str, dict[str, Any]] = {}
            for name, read in readers.items():
                wall, cpu, rows = float("inf"), float("inf"), 0
                for _ in range(repeat):
                    t0, c0 = time.perf_counter(), time.process_time()
                    got = read()
                    cpu, wall = min(cpu, time.process_time() - c0), min(wall, time.perf_counter() - t0)
                    rows = len(got)
                out[name] = {"cpu_seconds": round(cpu, 4), "seconds": round(wall, 4), "rows": rows}
        finally:
            store.engine.dispose()
    return {"backend": backend, "hosts": hosts, "readers": out}


if __name__ == "__main__":
    main(
        __doc__,
        lambda p: p.add_argument("--repeat", type=int, default=5),
        run_backend,
        lambda a: f"store readers: least CPU of {a.repeat} runs, {a.hosts:,} hosts",
        "readers",
        lambda r: f"{1000 * r['cpu_seconds']:>11.1f} ms {r['rows']:>6} rows",
        24,
    )
