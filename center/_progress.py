"""Results and task events of every proxy link, stored by group commit.

A proxy link's loop only hands a ``results`` or ``events`` batch over
(:meth:`ProgressWriter.put`) and goes on reading. One writer task takes
whatever has gathered from all links while it was busy, checks the result
signatures in worker threads (a large batch on several cores at once: libsodium
runs without the GIL), stores events and results in ONE transaction
(``executemany`` per kind of row), and only then acknowledges each proxy's
results (a proxy keeps re-sending what is not acknowledged, and a repeat is
stored once). The busier the center, the bigger the batches: the number of
transactions follows the database's speed, not the number of messages.
"""

from __future__ import annotations

import base64
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from transports import Events, Result, ResultAck, Results, StarlingError, TaskEvent, TransportError
from transports.signing import verify_result

from ._metrics import log_failure
from ._store import _chunks, job_of

if TYPE_CHECKING:
    from ._center import Center
    from ._links import ProxyLink

log = logging.getLogger("starling.center")

#: Results waiting for the writer beyond which a link's loop waits too (backpressure).
MAX_PENDING = 50_000
#: Threads that check a batch's result signatures at once, and the batch size from which
#: a batch is split between them.
CHECK_THREADS = max(1, min(4, os.cpu_count() or 1))
CHECK_SPLIT = 256


@dataclass
class _Batch:
    events: list[TaskEvent] = field(default_factory=list)
    results: list[tuple[ProxyLink, Result]] = field(default_factory=list)
    acks: dict[ProxyLink, list[str]] = field(default_factory=lambda: defaultdict(list))


class ProgressWriter:
    """Group commit of the results and events every proxy reports."""

    def __init__(self, center: Center) -> None:
        self.center = center
        self._batch = _Batch()
        self._wake = trio.Event()
        self._room = trio.Event()
        self._room.set()
        #: Transactions written and the items they held (statistics, tests).
        self.commits = 0
        self.items = 0
        # trio clock of the oldest item not yet taken by the writer, and of the batch it writes.
        self._queued_since: float | None = None
        self._writing_since: float | None = None

    async def put(self, link: ProxyLink, msg: Results | Events) -> None:
        """Queue one batch from ``link``; waits only when the writer is far behind."""
        while len(self._batch.results) >= MAX_PENDING:
            await self._room.wait()
        if isinstance(msg, Events):
            self._batch.events.extend(msg.events)
        else:
            self._batch.results.extend((link, r) for r in msg.results)
            self._batch.acks[link].extend(r.task_id for r in msg.results)
        if self._queued_since is None:
            self._queued_since = trio.current_time()
        self._wake.set()

    def lag(self) -> float:
        """Seconds the oldest event or result not yet stored has waited (0 when none
        waits). Until the writer catches up, the store does not know which tasks their
        hosts already have: the sweeper sends nothing again that is younger than this
        plus its own wait (a fleet-wide job would otherwise be sent again whole while
        its acks sit here, and the duplicates slow the writer further)."""
        since = self._writing_since if self._writing_since is not None else self._queued_since
        return 0.0 if since is None else trio.current_time() - since

    def statistics(self) -> dict[str, int]:
        return {"commits": self.commits, "items": self.items, "pending": len(self._batch.results) + len(self._batch.events)}

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            batch, self._batch = self._batch, _Batch()
            self._writing_since, self._queued_since = self._queued_since, None
            self._room.set()
            self._room = trio.Event()
            try:
                await self._write(batch)
            except (TransportError, trio.Cancelled):
                raise
            except Exception as exc:
                # A store hiccup loses nothing: unacknowledged results are re-sent by the proxy.
                log_failure(log, "storing a batch of results failed", exc)
            finally:
                self._writing_since = None

    async def _write(self, batch: _Batch) -> None:
        center = self.center
        genuine = await self._genuine(batch.results) if batch.results else []
        # A scheduled agent.upgrade stays open until its host is back (center/_upgrades.py).
        genuine, upgrading = await center.upgrades.intercept(genuine)
        touched = await center.store.store_progress(batch.events, genuine) | upgrading
        self.commits += 1
        self.items += len(batch.events) + len(batch.results)
        center.stats["results"] += len(batch.results)
        for link, task_ids in batch.acks.items():
            try:
                await link.channel.send(ResultAck(task_ids=task_ids))
            except TransportError:
                pass  # the link is gone; the proxy re-sends on its next link
        center.notify({job_of(ev.task_id) for ev in batch.events})
        if touched:
            await center.settle(touched)

    async def _genuine(self, results: list[tuple[ProxyLink, Result]]) -> list[Result]:
        """Results signed by the agent the task was sent to (hosts enrolled with a
        key must sign); anything else is a proxy's forgery and is dropped."""
        center = self.center
        keys = await center.store.result_keys([r.task_id for _, r in results])

        def check(part: list[tuple[ProxyLink, Result]]) -> tuple[list[Result], list[tuple[str, str, str]]]:
            ok, bad = [], []
            for link, r in part:
                key = keys.get(r.task_id)
                if key is None:
                    continue  # not a task of ours (a forged id): nothing to store
                if key:
                    try:
                        verify_result(base64.b64decode(key), r)
                    except StarlingError as exc:
                        bad.append((link.proxy_id, r.task_id, str(exc)))
                        continue
                ok.append(r)
            return ok, bad

        # libsodium runs without the GIL: a large batch is checked on several cores at once
        # (a fleet-wide job's result checks were 15–20 % of the center's CPU, on one thread).
        threads = CHECK_THREADS if len(results) >= CHECK_SPLIT else 1
        parts = list(_chunks(results, max(1, -(-len(results) // threads))))
        checked: list[tuple[list[Result], list[tuple[str, str, str]]]] = [([], [])] * len(parts)

        async def run(i: int) -> None:
            checked[i] = await trio.to_thread.run_sync(check, parts[i])  # one writer: at most CHECK_THREADS at once

        async with trio.open_nursery() as nursery:
            for i in range(len(parts)):
                nursery.start_soon(run, i)
        ok = [r for part_ok, _ in checked for r in part_ok]
        bad = [b for _, part_bad in checked for b in part_bad]
        for proxy_id, task_id, why in bad:
            log.warning("dropped a result for %s from proxy %s: %s", task_id, proxy_id, why)
            center.audit.record(center.center_id, "result.forged", task_id, {"proxy": proxy_id, "why": why})
        return ok
