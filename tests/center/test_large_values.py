"""Values past 64 KiB (a task's output, a job's params, a catalogue) are stored
whole on every backend (MariaDB's TEXT/BLOB would stop at 64 KiB)."""

from __future__ import annotations

import time

import sqlalchemy as sa

from center._rows import JobRow, NewTask
from center._store import Store, tasks
from transports import Result


def test_a_large_output_params_and_catalogue_are_stored_whole(db_url: str) -> None:
    store = Store(db_url)
    try:
        store.migrate()
        now = time.time()
        big_params = "{" + '"x": "' + "p" * 200_000 + '"}'
        store.create_job(
            JobRow(id="j-big", account="a", action="exec.run", params=big_params, params_raw=b"\x81" * 200_000,
                   targets="{}", created=now, timeout=60.0, deadline=now + 90, total=1, state="running",
                   offline="fail", stream=False),
            [NewTask(id="j-big-0", job_id="j-big", agent_id="a-1", deadline=now + 90, created=now)],
        )
        out = "o" * 1_000_000  # the agent's default max_output
        assert store.store_results([Result(task_id="j-big-0", state="succeeded", stdout=out, stderr="e" * 100_000, finished=now)]) == {"j-big"}
        store.add_catalogue("d" * 64, b"c" * 300_000)
        with store.engine.connect() as conn:
            row = conn.execute(sa.select(tasks.c.stdout, tasks.c.stderr).where(tasks.c.id == "j-big-0")).one()
        assert len(row.stdout) == 1_000_000 and len(row.stderr) == 100_000
        job = store.job("j-big")
        assert job is not None and len(job.params) == len(big_params) and len(job.params_raw) == 200_000
        assert len(store.catalogue_docs(["d" * 64])["d" * 64]) == 300_000
    finally:
        store.engine.dispose()
