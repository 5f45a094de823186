"""The throttle: keeps the agent inside its budget and off overloaded hosts.

Before a task starts, the throttle checks the host's load per CPU and the
agent's own memory (through a small :class:`Probe`, psutil in production, a
fake in tests) and defers the task while either is over budget — until the
task's deadline, after which the task fails with A013. A capacity limiter
bounds how many tasks run at once. What it is doing is reported in every
heartbeat (``Health.throttle``).
"""

from __future__ import annotations

import os
import time
from typing import Protocol

import trio

from transports import ErrorCode

from ._sdk import ActionError


class Probe(Protocol):
    def load_per_cpu(self) -> float: ...

    def agent_rss_mb(self) -> float: ...


class PsutilProbe:
    def load_per_cpu(self) -> float:
        return os.getloadavg()[0] / (os.cpu_count() or 1)

    def agent_rss_mb(self) -> float:
        import psutil

        return float(psutil.Process().memory_info().rss) / 2**20


class Throttle:
    def __init__(self, *, max_load_per_cpu: float, mem_budget_mb: float, max_concurrent: int, probe: Probe | None = None, poll: float = 1.0) -> None:
        self.max_load_per_cpu = max_load_per_cpu
        self.mem_budget_mb = mem_budget_mb
        self.limiter = trio.CapacityLimiter(max(1, max_concurrent))
        self.probe = probe or PsutilProbe()
        self.poll = poll
        self.state = ""
        self.deferred = 0

    def over_budget(self) -> str:
        """Why work must wait now, or ``""``."""
        load = self.probe.load_per_cpu()
        if self.max_load_per_cpu and load > self.max_load_per_cpu:
            return f"host load {load:.1f}/cpu above {self.max_load_per_cpu:g}"
        rss = self.probe.agent_rss_mb()
        if self.mem_budget_mb and rss > self.mem_budget_mb:
            return f"agent memory {rss:.0f} MB above {self.mem_budget_mb:g} MB"
        return ""

    async def wait_ok(self, deadline: float) -> None:
        """Return when the task may start; raise A013 if the deadline (wall
        clock) comes first."""
        reason = self.over_budget()
        if not reason:
            return
        self.deferred += 1
        try:
            while reason:
                self.state = f"deferring: {reason}"
                if time.time() + self.poll > deadline:
                    raise ActionError(f"deferred until the deadline: {reason}", code=ErrorCode.A013)
                await trio.sleep(self.poll)
                reason = self.over_budget()
        finally:
            self.deferred -= 1
            if not self.deferred:
                self.state = ""

    def describe(self) -> str:
        busy = self.limiter.borrowed_tokens
        queued = self.limiter.statistics().tasks_waiting
        parts = [self.state] if self.state else []
        if queued:
            parts.append(f"{queued} task(s) queued behind {busy} running")
        return "; ".join(parts)
