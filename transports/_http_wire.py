"""The HTTP long-poll protocol, shared by its client and server halves.

Paths are below the URL's path (the *prefix*, e.g. ``/starling``)::

    POST {prefix}/open                       -> 200 JSON Opened (a new session)
    GET  {prefix}/s/{sid}/poll?ack=N&room=R  -> 200 frames the server queued
    POST {prefix}/s/{sid}/send?seq=N         -> 204 (body: frames for the server)
    POST {prefix}/s/{sid}/close?seq=N        -> 204 (the client ends cleanly)

Bodies are batches of ordinary frames (4-byte big-endian length + body).
Both directions survive a lost request or response: a poll answer carries
its batch number (``Starling-Seq``) and is sent again until a later poll acks
it; a send carries its own number and a repeat is ignored. ``room=0`` says
"keep my session alive but hold your messages: my reader is full".
``Starling-End: closed | broken`` ends a poll answer when the server side
closed or aborted the channel.
"""

from __future__ import annotations

import msgspec

SEQ = "starling-seq"
END = "starling-end"
END_CLOSED = "closed"
END_BROKEN = "broken"
BATCH_MAX = 1024 * 1024  # bytes in one body; a single larger frame travels alone
HIGH_WATER = 4 * 1024 * 1024  # unread bytes a side buffers before pushing back


class Opened(msgspec.Struct, frozen=True):
    """The answer to ``open``."""

    session: str
    poll: float  # seconds the server holds a poll open
    expiry: float  # seconds without any request before the session is dropped


def take_batch(outbox: list[bytes], limit: int = BATCH_MAX) -> tuple[bytes, int]:
    """Remove frames from the head of ``outbox`` into one body of at most
    ``limit`` bytes (or just the first frame, if it alone is larger)."""
    size = 0
    count = 0
    for item in outbox:
        if count and size + len(item) > limit:
            break
        size += len(item)
        count += 1
    body = b"".join(outbox[:count])
    del outbox[:count]
    return body, size


def session_path(prefix: str, sid: str, what: str) -> str:
    return f"{prefix}/s/{sid}/{what}"
