"""A byte-rate limit (token bucket) for the file channel's bandwidth caps.

Proxies cap what they serve to their agents, agents cap what they fetch; both
share this one small class so the caps behave the same everywhere.
"""

from __future__ import annotations

import trio


class RateLimit:
    """At most ``rate`` bytes per second on average, bursts up to ``burst``.

    ``rate <= 0`` means no limit. Callers ``await take(n)`` before moving ``n``
    bytes; a request larger than the burst is let through once the bucket has
    been filled for it (so one big chunk is never refused, only paced).

    :param rate: bytes per second (0: unlimited).
    :param burst: bucket size in bytes (default: one second of ``rate``).
    """

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(rate, 1.0))
        self._tokens = self.burst
        self._stamp: float | None = None
        self._lock = trio.Lock()
        self.taken = 0

    async def take(self, n: int) -> None:
        """Wait until ``n`` bytes may pass (FIFO among waiters)."""
        self.taken += n
        if self.rate <= 0:
            return
        async with self._lock:
            now = trio.current_time()
            if self._stamp is None:
                self._stamp = now
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= n
            if self._tokens < 0:
                # Pay the debt before letting the next waiter in: the average stays at `rate`.
                await trio.sleep(-self._tokens / self.rate)
                self._tokens = 0.0
                self._stamp = trio.current_time()
