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

:class:`QueuedChannel` is what both halves' channels share: the application
reads from an inbound queue and writes to a bounded outbox.
"""

from __future__ import annotations

from collections import deque

import msgspec
import trio

from ._base import Channel
from ._codec import decode, frame
from ._errors import ClosedByYou, TransportError
from ._messages import Message

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


def again(exc: TransportError) -> TransportError:
    """A fresh copy of a stored error, so each raise has its own traceback."""
    return type(exc)(str(exc), code=exc.code)


class QueuedChannel(Channel):
    """The application's face of one session, client or server side.

    ``receive`` takes bodies from ``_inbound`` (filled by the HTTP half) until
    ``_end``; ``send`` queues frames in ``_outbox``, waiting while more than
    :data:`HIGH_WATER` bytes are queued, and raises ``_send_error`` once the
    session can no longer deliver.
    """

    def __init__(self, max_frame: int) -> None:
        self._max_frame = max_frame
        # peer -> application
        self._inbound: deque[bytes] = deque()
        self._in_bytes = 0
        self._end: TransportError | None = None  # raised by receive once _inbound is empty
        self._recv_lot = trio.lowlevel.ParkingLot()
        # application -> peer
        self._outbox: list[bytes] = []
        self._out_bytes = 0
        self._send_error: TransportError | None = None  # what a send raises now
        self._out_lot = trio.lowlevel.ParkingLot()
        self._space_lot = trio.lowlevel.ParkingLot()
        self._closed = False  # the application closed or aborted its side

    def _taken(self) -> None:
        """Called after ``receive`` took a body: the side may make room."""

    async def send(self, msg: Message) -> None:
        await self._send_bytes(frame(msg, self._max_frame))

    async def send_raw(self, data: bytes) -> None:
        await self._send_bytes(data)

    async def _send_bytes(self, data: bytes) -> None:
        while True:
            if self._closed:
                raise ClosedByYou("channel already closed")
            if self._send_error is not None:
                raise again(self._send_error)
            if not self._out_bytes or self._out_bytes + len(data) <= HIGH_WATER:
                break
            await self._space_lot.park()
        self._outbox.append(data)
        self._out_bytes += len(data)
        self._out_lot.unpark_all()
        await trio.lowlevel.checkpoint()

    async def receive(self) -> Message:
        while True:
            if self._closed:
                raise ClosedByYou("channel already closed")
            if self._inbound:
                body = self._inbound.popleft()
                self._in_bytes -= len(body)
                self._taken()
                return decode(body)
            if self._end is not None:
                raise again(self._end)
            await self._recv_lot.park()
