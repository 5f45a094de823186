"""Live output of streaming jobs, in memory (``/v1/jobs/{id}/output`` reads it)."""

from __future__ import annotations

from collections import defaultdict

import trio

from transports import Output

from ._store import job_of


class OutputBuffer:
    """Live output chunks of streaming jobs, per job, in memory and bounded.
    Readers follow a job with a cursor; the stored result stays the record."""

    def __init__(self, per_job: int = 5000, jobs: int = 200) -> None:
        self.per_job = per_job
        self.jobs = jobs
        self._chunks: dict[str, list[Output]] = {}
        self._dropped: dict[str, int] = defaultdict(int)
        self._wake: dict[str, trio.Event] = defaultdict(trio.Event)

    def add(self, out: Output) -> None:
        job_id = job_of(out.task_id)
        chunks = self._chunks.setdefault(job_id, [])
        if len(self._chunks) > self.jobs:
            oldest = next(iter(self._chunks))
            self._chunks.pop(oldest, None)
            self._dropped.pop(oldest, None)
        if len(chunks) >= self.per_job:
            self._dropped[job_id] += 1
        else:
            chunks.append(out)
        self._wake.pop(job_id, trio.Event()).set()

    def since(self, job_id: str, cursor: int) -> list[Output]:
        return self._chunks.get(job_id, [])[cursor:]

    async def wait(self, job_id: str, seconds: float) -> None:
        with trio.move_on_after(seconds):
            await self._wake[job_id].wait()
