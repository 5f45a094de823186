"""The sweeper: heartbeat snapshots, stale hosts, re-dispatch, and deadlines.

Once a second it writes the presence snapshot when one is due, takes hosts
whose heartbeat stopped offline (``E005``), sends again what a proxy never
acknowledged, advances rollouts, and finalises tasks whose deadline passed
with the most precise code it can (see :meth:`Sweeper.classify_overdue`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import trio

from transports import ErrorCode

from ._diagnosis import host_findings
from ._metrics import log_failure
from ._rows import DueTask
from ._upgrades import classify_overdue as upgrade_overdue

if TYPE_CHECKING:
    from ._center import Center

log = logging.getLogger("starling.center")

#: A task dispatched this long ago that its proxy has not written to the agent
#: yet is sent again (the agent's journal makes a duplicate harmless), counted
#: past the progress writer's backlog (:meth:`center._progress.ProgressWriter.lag`).
REDISPATCH_AFTER = 10.0
#: A task its proxy wrote to the agent's connection is sent again only after this
#: long without the agent's ack. TCP delivers it or the connection ends, and an
#: agent that comes back (to any proxy) is sent what it lacks at once
#: (``Dispatcher.redispatch_for``); this is the backstop. At 10 s, a fleet-wide job
#: on a saturated box was sent again whole while the acks were on their way, and the
#: duplicates (25,000 in a 30,000-host job) slowed every role further.
REDELIVER_AFTER = 60.0


class Sweeper:
    def __init__(self, center: Center) -> None:
        self.center = center

    def _environment_code(self, row: DueTask, now: float) -> ErrorCode | None:
        """An ``E…`` code when the host's last report explains the failure
        (the first finding of :func:`center._diagnosis.host_findings`)."""
        center = self.center
        for finding in host_findings(row, now, grace=center.grace, load_limit=center.diagnoser.load_limit):
            if finding.code.layer == "E" and finding.code.value <= "E005":
                return finding.code
        return None

    def classify_overdue(self, row: DueTask, now: float) -> tuple[str, str, str, str]:
        if row.job_state == "pending_approval":
            return (row.id, "failed", ErrorCode.C011.value, "no approver decided before the approval window closed")
        upgrade = upgrade_overdue(row)
        if upgrade is not None:
            return upgrade
        code = self._environment_code(row, now) or ErrorCode.C005
        if code is ErrorCode.E001 and row.state in ("received", "running"):
            code = ErrorCode.P002  # it had the task, then vanished
        return (row.id, "failed", code.value, code.meaning)

    async def sweep_once(self) -> int:
        center = self.center
        now = time.time()
        await center.presence.snapshot()
        center.presence.drop_stale(now - center.grace)
        await center.store.mark_stale_agents(now - center.grace)
        # A task's ack may be waiting in the progress writer: not stuck until that wait is over too.
        lag = center.progress.lag()
        stuck = await center.store.stuck_tasks(
            now, now - REDISPATCH_AFTER - lag, list(center.links), delivered_before=now - REDELIVER_AFTER - lag
        )
        if stuck:
            log.info("sending %d tasks again: no ack in time (the progress writer is %.1f s behind)", len(stuck), lag, extra={"tasks": len(stuck)})
            center.stats["redispatched"] += len(stuck)
            await center.dispatcher.redispatch(stuck)
        await center.rollouts.tick()
        due = await center.store.due_tasks(now)
        if due:
            touched = await center.store.finalize([self.classify_overdue(r, now) for r in due])
            await center.settle(touched)
        return len(due)

    async def run(self, interval: float = 1.0) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception as exc:
                log_failure(log, "sweeper pass failed", exc)
            await trio.sleep(interval)
