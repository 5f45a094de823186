"""A task's states, in order: what the wire carries and every role's views agree on.

Kept apart from the message types (``_messages``, which loads msgspec) so that a
reader of job documents -- the command line's ``--json`` views -- can name the final
states without loading the wire.
"""

from __future__ import annotations

from typing import Literal

TaskState = Literal[
    "created",
    "dispatched",
    "delivered",
    "received",
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "cancelled",
]
FINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "timed_out", "cancelled"})
STATE_ORDER: dict[str, int] = {
    s: i
    for i, s in enumerate(
        ["created", "dispatched", "delivered", "received", "running", "succeeded"]
    )
} | {"failed": 5, "timed_out": 5, "cancelled": 5}
