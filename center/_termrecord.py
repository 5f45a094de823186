"""Terminal sessions recorded in the MAC-chained audit log, and replayed.

A session leaves these audit records, all with the session id as subject:

``terminal.open``   who, host, job, how it was opened (cookie or token) and from which origin;
``terminal.record`` a batch of events ``[seconds since open, "i"|"o"|"r", text]`` —
                    input, output (up to ``[console] terminal_record_bytes``), refused lines;
``terminal.close``  how it ended, byte counts, whether the output record was cut.

Batches are written every :data:`FLUSH_BYTES` bytes or :data:`FLUSH_SECONDS` and at
the end, so a long session is a few records, not one per keystroke, and a center
that dies mid-session keeps all but the last batch. ``starling audit replay
SESSION`` prints the output in order (``--timing`` sleeps as the session did).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = ["SessionRecorder", "replay_events"]

FLUSH_BYTES = 32 * 1024
FLUSH_SECONDS = 2.0


class SessionRecorder:
    """Collects one session's events and writes them to the audit trail in batches.

    :param record: ``(actor, kind, subject, detail)`` — the center's audit trail.
    """

    def __init__(self, record: Callable[[str, str, str, Any], None], actor: str, session: str, cap: int) -> None:
        self._record = record
        self.actor = actor
        self.session = session
        self.cap = cap
        self.started = time.monotonic()
        self._events: list[list[Any]] = []
        self._pending = 0
        self._last_flush = self.started
        self.output_bytes = 0
        self.input_bytes = 0
        self.recorded_output = 0
        self.truncated = False
        self.refusals = 0

    def _add(self, kind: str, text: str) -> None:
        now = time.monotonic()
        self._events.append([round(now - self.started, 3), kind, text])
        self._pending += len(text)
        if self._pending >= FLUSH_BYTES or now - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def input(self, data: bytes) -> None:
        self.input_bytes += len(data)
        self._add("i", data.decode("utf-8", "replace"))

    def output(self, data: bytes) -> None:
        self.output_bytes += len(data)
        room = self.cap - self.recorded_output
        if room <= 0:
            self.truncated = True
            return
        part = data[:room]
        self.truncated = self.truncated or len(part) < len(data)
        self.recorded_output += len(part)
        self._add("o", part.decode("utf-8", "replace"))

    def refused(self, line: str, code: str, rule: str) -> None:
        self.refusals += 1
        self._add("r", f"{code} {rule}: {line}")

    def flush(self) -> None:
        if self._events:
            self._record(self.actor, "terminal.record", self.session, {"events": self._events})
        self._events, self._pending, self._last_flush = [], 0, time.monotonic()

    def close(self, outcome: dict[str, Any]) -> None:
        self.flush()
        ended = outcome.get("exit") or {}
        error = outcome.get("error")
        self._record(self.actor, "terminal.close", self.session, {
            "status": ended.get("status"), "code": (error[0].value if error else ended.get("code")),
            "message": (error[1] if error else ended.get("message", "")), "seconds": round(time.monotonic() - self.started, 3),
            "input_bytes": self.input_bytes, "output_bytes": self.output_bytes, "recorded_output": self.recorded_output,
            "truncated": self.truncated, "refused": self.refusals,
        })


def replay_events(records: Iterable[dict[str, Any]], session: str) -> Iterator[tuple[float, str, str]]:
    """The ``(t, kind, text)`` events of one session, in order, from audit records
    (as ``GET /v1/audit`` lists them)."""
    for rec in records:
        if rec.get("subject") != session or rec.get("kind") != "terminal.record":
            continue
        for t, kind, text in (rec.get("detail") or {}).get("events", []):
            yield float(t), str(kind), str(text)
