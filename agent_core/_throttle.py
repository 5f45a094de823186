"""The throttle: keeps the agent inside its budget and off overloaded hosts.

Before a task starts, the throttle checks the host's *current* CPU pressure
and the agent's own memory (through a small :class:`Probe`, psutil and
``/proc`` in production, a fake in tests) and defers the task while either is
over budget — until the task's deadline, after which the task fails with
A013. A capacity limiter bounds how many tasks run at once. What it is doing,
and why, is reported in every heartbeat (``Health.throttle``).

"Current" matters: the 1-minute load average stays high for a minute after a
burst (100 agents starting on 2 cores) that is long over, and deferring on it
held an operator's ``echo`` for ~58 s. The throttle therefore reads the kernel's
pressure stall information (PSI, ``/proc/pressure/cpu``, "some avg10": the
share of the last 10 s in which runnable tasks waited for a CPU), and where the
kernel has no PSI, the run queue right now (``procs_running`` per CPU).
"""

from __future__ import annotations

import os
import time
from typing import Protocol

import trio

from transports import ErrorCode

from ._sdk import ActionError


class Probe(Protocol):
    def cpu_pressure(self) -> float | None:
        """Percent of the last 10 s some task waited for a CPU (PSI), or
        ``None`` when the kernel does not report pressure."""
        ...

    def runnable_per_cpu(self) -> float:
        """Tasks runnable right now, per CPU (the fallback without PSI)."""
        ...

    def agent_rss_mb(self) -> float: ...


def read_psi_some_avg10(path: str = "/proc/pressure/cpu") -> float | None:
    """The "some avg10" figure of a PSI file, or ``None`` if unavailable."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith("some "):
                    fields = dict(part.split("=", 1) for part in line.split()[1:])
                    return float(fields["avg10"])
    except (OSError, ValueError, KeyError):
        return None
    return None


class PsutilProbe:
    def cpu_pressure(self) -> float | None:
        return read_psi_some_avg10()

    def runnable_per_cpu(self) -> float:
        try:
            with open("/proc/stat") as fh:
                for line in fh:
                    if line.startswith("procs_running "):
                        # Minus one: this agent, reading the file, is running too.
                        return max(0, int(line.split()[1]) - 1) / (os.cpu_count() or 1)
        except (OSError, ValueError):
            pass
        return 0.0

    def agent_rss_mb(self) -> float:
        import psutil

        return float(psutil.Process().memory_info().rss) / 2**20


class Throttle:
    """Defers work under real, current pressure.

    :param max_cpu_pressure: PSI "some avg10" percent above which tasks wait
        (0 disables the check).
    :param max_load_per_cpu: without PSI, runnable tasks per CPU above which
        tasks wait (0 disables the check).
    :param mem_budget_mb: the agent's own RSS budget.
    :param max_concurrent: tasks running at once.
    """

    def __init__(
        self,
        *,
        max_load_per_cpu: float,
        mem_budget_mb: float,
        max_concurrent: int,
        max_cpu_pressure: float = 90.0,
        probe: Probe | None = None,
        poll: float = 1.0,
    ) -> None:
        self.max_cpu_pressure = max_cpu_pressure
        self.max_load_per_cpu = max_load_per_cpu
        self.mem_budget_mb = mem_budget_mb
        self.limiter = trio.CapacityLimiter(max(1, max_concurrent))
        self.probe = probe or PsutilProbe()
        self.poll = poll
        self.state = ""
        self.deferred = 0
        #: Until when (trio clock) the last "within budget" verdict stands: PSI's avg10
        #: moves every 2 s, and a fleet-wide job starts many tasks in the same instant.
        self._ok_until = -1.0

    def over_budget(self) -> str:
        """Why work must wait now, or ``""``."""
        pressure = self.probe.cpu_pressure()
        if pressure is not None:
            if self.max_cpu_pressure and pressure > self.max_cpu_pressure:
                return f"cpu pressure {pressure:.0f}% (PSI some avg10) above {self.max_cpu_pressure:g}%"
        else:
            runnable = self.probe.runnable_per_cpu()
            if self.max_load_per_cpu and runnable > self.max_load_per_cpu:
                return f"{runnable:.1f} runnable tasks/cpu above {self.max_load_per_cpu:g}"
        rss = self.probe.agent_rss_mb()
        if self.mem_budget_mb and rss > self.mem_budget_mb:
            return f"agent memory {rss:.0f} MB above {self.mem_budget_mb:g} MB"
        return ""

    async def wait_ok(self, deadline: float) -> str:
        """Return when the task may start — ``""``, or why it was deferred and
        for how long; raise A013 if the deadline (wall clock) comes first."""
        now = trio.current_time()
        if now < self._ok_until:
            return ""
        reason = self.over_budget()
        if not reason:
            self._ok_until = now + self.poll / 2
            return ""
        first, start = reason, trio.current_time()
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
        return f"deferred {trio.current_time() - start:.1f}s: {first}"

    def describe(self) -> str:
        busy = self.limiter.borrowed_tokens
        queued = self.limiter.statistics().tasks_waiting
        parts = [self.state] if self.state else []
        if queued:
            parts.append(f"{queued} task(s) queued behind {busy} running")
        return "; ".join(parts)
