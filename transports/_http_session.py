"""The server side of one HTTP long-poll session, as a :class:`Channel`.

The HTTP handlers (``_http_server``) feed it the client's batches and take
poll answers from it; the application sees an ordinary channel. See
``_http_wire`` for the protocol.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from ._errors import ChannelClosed, TransportBroken, TransportError
from ._http_wire import END_BROKEN, END_CLOSED, HIGH_WATER, QueuedChannel, take_batch


class HttpSession(QueuedChannel):
    """One client's session, seen from the server."""

    carrier = "http"

    def __init__(self, sid: str, peer: str, max_frame: int, on_abort: Callable[[HttpSession], None]) -> None:
        super().__init__(max_frame)
        #: the largest frame accepted from the client now (lower before login)
        self.receive_limit = max_frame
        self.sid = sid
        self.peer = peer
        self._on_abort = on_abort
        # client -> server (the queue itself is QueuedChannel's)
        self._room_lot = trio.lowlevel.ParkingLot()
        self.send_lock = trio.Lock()  # one client batch applied at a time
        self.applied_seq = 0  # the client's last batch applied
        # server -> client
        self._batch_seq = 0
        self._inflight: tuple[bytes, str | None] | None = None
        # state
        self._closing = False  # the application closed: End: closed after the outbox
        self._aborted = False
        self.active = 0  # requests in progress
        self.last_seen = trio.current_time()

    # --- the Channel API (send and receive are QueuedChannel's) ------------------

    def _set_receive_limit(self, limit: int | None) -> None:
        self.receive_limit = self._max_frame if limit is None else min(limit, self._max_frame)

    def _taken(self) -> None:
        self._room_lot.unpark_all()

    async def aclose(self) -> None:
        """Close: what is queued still goes out, then the client sees a clean end."""
        if not self._closed:
            self._closed = True
            self._closing = True
            self._wake_all()
        await trio.lowlevel.checkpoint()

    async def abort(self) -> None:
        """Drop the session: the client's next poll sees it broken."""
        if not self._closed:
            self._closed = True
            self._aborted = True
            self._outbox.clear()
            self._out_bytes = 0
            self._wake_all()
            self._on_abort(self)
        await trio.lowlevel.checkpoint()

    def _wake_all(self) -> None:
        for lot in (self._recv_lot, self._room_lot, self._out_lot, self._space_lot):
            lot.unpark_all()

    # --- fed by the HTTP handlers --------------------------------------------------

    @property
    def accepts_input(self) -> bool:
        return not self._closed and self._end is None

    async def deliver(self, bodies: list[bytes], size: int) -> bool:
        """Queue one client batch whole, once there is room; False if the
        session ended meanwhile."""
        while self.accepts_input and self._in_bytes and self._in_bytes + size > HIGH_WATER:
            await self._room_lot.park()
        if not self.accepts_input:
            return False
        self._inbound.extend(bodies)
        self._in_bytes += size
        self._recv_lot.unpark_all()
        return True

    def fail(self, exc: TransportError) -> None:
        """The client broke the protocol, vanished or closed: end the input
        (after what is queued) and refuse further sends."""
        if self._end is None:
            self._end = exc
        if self._send_error is None:
            self._send_error = (
                TransportBroken(f"{self.peer} closed the channel")
                if isinstance(exc, ChannelClosed)
                else TransportBroken(f"session with {self.peer} ended: {exc}")
            )
        self._wake_all()

    def client_closed(self) -> None:
        self.fail(ChannelClosed(f"{self.peer} closed the channel"))

    def expire(self, after: float) -> None:
        self.fail(TransportBroken(f"{self.peer} vanished: no request for {after:g}s"))

    async def answer_poll(self, ack: int, room: bool, wait: float) -> tuple[int, bytes, str | None]:
        """What a poll gets: ``(batch number, body, end)``, waiting up to
        ``wait`` seconds for something to send."""
        if self._inflight is not None and ack >= self._batch_seq:
            self._inflight = None  # the client has it
        if self._inflight is None:
            with trio.move_on_after(wait):
                while not self._aborted and not self._closing and not (room and self._outbox):
                    await self._out_lot.park()
            if self._aborted:
                return self._batch_seq, b"", END_BROKEN
            body = b""
            if room and self._outbox:
                body, size = take_batch(self._outbox)
                self._out_bytes -= size
                self._space_lot.unpark_all()
            end = END_CLOSED if self._closing and not self._outbox else None
            if not body and end is None:
                return self._batch_seq, b"", None
            self._batch_seq += 1
            self._inflight = (body, end)
        body, end = self._inflight
        return self._batch_seq, body, end
