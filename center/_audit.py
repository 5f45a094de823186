"""The center's audit trail: every API call, submission, approval and dispatch.

Records are queued without blocking the caller and appended in batches from a
worker thread to the hash-chained log (:mod:`center.security._audit`) in the
center's own database, so several centers share one chain.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import trio

from ._store import AsyncStore, audit_log
from .security import AuditEntry, AuditLog

log = logging.getLogger("starling.audit")


class AuditTrail:
    def __init__(self, store: AsyncStore, key: bytes | None = None) -> None:
        self.store = store
        self.log = AuditLog(store.sync.engine, audit_log, key=key)
        self._queue: list[AuditEntry] = []
        self._wake = trio.Event()
        self._flushed = trio.Event()

    def record(self, actor: str, kind: str, subject: str = "", detail: Any = None) -> None:
        """Queue one record (never blocks, never raises)."""
        self._queue.append(AuditEntry(actor or "-", kind, subject[:500], detail, time.time()))
        self._wake.set()

    async def flush(self) -> None:
        batch, self._queue = self._queue, []
        if not batch:
            return
        try:
            await self.store.call(self.log.append_many, batch)
        except BaseException:
            self._queue[:0] = batch  # keep them, in order, for the next try
            raise

    async def run(self, interval: float = 0.1) -> None:
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            await trio.sleep(interval)
            try:
                await self.flush()
            except Exception:
                log.exception("audit append failed; records kept for the next try")
            done, self._flushed = self._flushed, trio.Event()
            done.set()

    async def wait_flushed(self) -> None:
        """Wait until what was queued so far is written (tests, shutdown)."""
        if self._queue:
            await self._flushed.wait()
