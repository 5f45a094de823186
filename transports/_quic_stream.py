"""Starling streams on a QUIC connection: framing, credits, and the
:class:`Channel` face of each stream (the control channel is stream 0).

Every stream carries the usual frames (4-byte big-endian length +
MessagePack body). A header with the top bit set is not a message but a
*credit*: "I have consumed this many more bytes of yours". aioquic widens
QUIC's own flow-control windows as data arrives, not as the application reads
it, so without credits a reader that stops reading would buffer without
bound; with them a sender may have at most ``window`` unconsumed bytes in
flight per stream (or one frame, if it is larger).

Credits are sent per quarter window consumed, so they cost almost nothing. A
sender that runs out writes a zero credit (*blocked*); its reader then credits
at once what it has consumed and, until it has sent a credit, after every
message it hands over, so the sender never waits on a credit that is not
coming. (A zero credit also opens a stream at the peer.)
"""

from __future__ import annotations

import struct
from collections import deque
from typing import TYPE_CHECKING

import trio

from ._base import Channel, MultiStreamChannel
from ._codec import decode, frame
from ._errors import (
    ChannelClosed,
    ClosedByYou,
    FrameTooLarge,
    ProtocolError,
    TransportBroken,
    TransportError,
)
from ._messages import Message

if TYPE_CHECKING:
    from ._quic_link import QuicLink

ALPN = "starling/1"
NO_ERROR = 0x0
ABORTED = 0x101  # application close/reset code: the peer dropped us as a crash would
VIOLATION = 0x102  # application close/reset code: the framing was violated

_HEADER = struct.Struct(">I")
_CREDIT_BIT = 0x8000_0000
_CREDIT_MAX = 0x7FFF_FFFF


def again(exc: TransportError) -> TransportError:
    """A fresh copy of a stored error, so each raise has its own traceback."""
    return type(exc)(str(exc), code=exc.code)


def credit(n: int) -> bytes:
    return _HEADER.pack(_CREDIT_BIT | n)


class _Framer:
    """Split a stream into message bodies (bytes) and credits (int)."""

    __slots__ = ("_buf", "_max_frame")

    def __init__(self, max_frame: int) -> None:
        self._buf = bytearray()
        self._max_frame = max_frame

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes | int]:
        self._buf += data
        buf = self._buf
        out: list[bytes | int] = []
        pos = 0
        while len(buf) - pos >= 4:
            (head,) = _HEADER.unpack_from(buf, pos)
            if head & _CREDIT_BIT:
                out.append(head & _CREDIT_MAX)
                pos += 4
                continue
            if head > self._max_frame:
                raise FrameTooLarge(f"peer announced a {head}-byte frame (max {self._max_frame})")
            if len(buf) - pos - 4 < head:
                break
            out.append(bytes(buf[pos + 4 : pos + 4 + head]))
            pos += 4 + head
        if pos:
            del buf[:pos]
        return out


class QuicStream(Channel):
    """One QUIC stream as a message channel (a sub-stream, or the base of the
    control channel)."""

    carrier = "quic"

    def __init__(self, link: QuicLink, stream_id: int) -> None:
        self._link = link
        self.stream_id = stream_id
        self._framer = _Framer(link.max_frame)
        self._ready: deque[bytes] = deque()
        self._end: TransportError | None = None  # raised by receive once _ready is empty
        self._send_error: TransportError | None = None
        self._closed = False
        self._fin_sent = False
        self._outstanding = 0  # bytes we sent that the peer has not credited yet
        self._uncredited = 0  # bytes we consumed and have not credited yet
        self._peer_blocked = False  # the peer said it waits for our credit
        self._said_blocked = False  # we said so, and no credit came since
        self._recv_lot = trio.lowlevel.ParkingLot()
        self._credit_lot = trio.lowlevel.ParkingLot()
        self._send_lock = trio.Lock()

    @property
    def peer(self) -> str:  # type: ignore[override]
        return self._link.peer

    def _set_receive_limit(self, limit: int | None) -> None:
        full = self._link.max_frame
        self._framer._max_frame = full if limit is None else min(limit, full)

    # --- fed by the link (synchronous, inside event processing) ------------------

    def on_data(self, data: bytes, fin: bool) -> None:
        if self._closed or self._end is not None:
            return
        try:
            items = self._framer.feed(data)
        except FrameTooLarge as exc:
            self._violation(exc)
            return
        for item in items:
            if isinstance(item, int):
                if item > self._outstanding:
                    self._violation(ProtocolError(f"peer credited {item} bytes; only {self._outstanding} were sent"))
                    return
                if item == 0:
                    self._peer_blocked = True
                    self._sendcredit()
                    continue
                self._outstanding -= item
                self._said_blocked = False
                self._credit_lot.unpark_all()
            else:
                self._ready.append(item)
        if fin:
            if self._framer.pending:
                self._end = TransportBroken(
                    f"{self.peer} ended stream {self.stream_id} inside a frame ({self._framer.pending} bytes held)"
                )
            else:
                self._end = ChannelClosed(f"{self.peer} closed the channel")
        self._recv_lot.unpark_all()

    def on_reset(self) -> None:
        if self._end is None:
            self._end = TransportBroken(f"{self.peer} reset stream {self.stream_id}")
        self._recv_lot.unpark_all()

    def on_stop_sending(self) -> None:
        if self._send_error is None:
            self._send_error = TransportBroken(f"{self.peer} stopped reading stream {self.stream_id}")
        self._credit_lot.unpark_all()

    def on_link_end(self, exc: TransportError) -> None:
        if self._end is None:
            self._end = exc
        if self._send_error is None:
            self._send_error = exc
        self._recv_lot.unpark_all()
        self._credit_lot.unpark_all()

    def _violation(self, exc: ProtocolError) -> None:
        self._end = exc
        self._send_error = TransportBroken(f"stream {self.stream_id} dropped after a protocol error")
        self._recv_lot.unpark_all()
        self._credit_lot.unpark_all()
        self._link.on_violation(self, exc)

    # --- the Channel API -----------------------------------------------------------

    async def send(self, msg: Message) -> None:
        await self._send_bytes(frame(msg, self._link.max_frame))

    async def send_raw(self, data: bytes) -> None:
        await self._send_bytes(data)

    async def _send_bytes(self, data: bytes) -> None:
        if self._closed:
            raise ClosedByYou("channel already closed")
        async with self._send_lock:
            while True:
                if self._closed:
                    raise ClosedByYou("channel already closed")
                if self._send_error is not None:
                    raise again(self._send_error)
                if self._outstanding == 0 or self._outstanding + len(data) <= self._link.window:
                    break
                if not self._said_blocked:
                    self._said_blocked = True
                    self._link.write(self.stream_id, credit(0))
                await self._credit_lot.park()
            self._link.write(self.stream_id, data)
            self._outstanding += len(data)

    async def receive(self) -> Message:
        while True:
            if self._closed:
                raise ClosedByYou("channel already closed")
            if self._ready:
                body = self._ready.popleft()
                self._consumed(len(body) + 4)
                return decode(body)
            if self._end is not None:
                raise again(self._end)
            await self._recv_lot.park()

    def _consumed(self, n: int) -> None:
        self._uncredited += n
        if self._peer_blocked or self._uncredited >= self._link.window // 4:
            self._sendcredit()

    def _sendcredit(self) -> None:
        if not self._uncredited or self._fin_sent or self._send_error is not None or not self._link.alive:
            return
        try:
            while self._uncredited:
                chunk = min(self._uncredited, _CREDIT_MAX)
                self._link.write(self.stream_id, credit(chunk))
                self._uncredited -= chunk
            self._peer_blocked = False
        except TransportError:
            pass  # the send side just died; the next send or receive says so

    def close_nowait(self) -> None:
        """End our side cleanly (FIN) and stop reading; wake blocked tasks."""
        if self._closed:
            return
        self._closed = True
        self._recv_lot.unpark_all()
        self._credit_lot.unpark_all()
        if self._link.alive and not self._fin_sent and self._send_error is None:
            self._fin_sent = True
            try:
                self._link.write(self.stream_id, b"", end_stream=True)
            except TransportError:
                pass  # the stream cannot send any more: nothing to finish
        if self.stream_id != 0 and self._end is None:
            self._link.stop(self.stream_id, NO_ERROR)

    async def aclose(self) -> None:
        self.close_nowait()
        self._link.forget(self)
        await trio.lowlevel.checkpoint()

    async def abort(self) -> None:
        """Reset this stream (the peer's receive raises TransportBroken)."""
        if self._closed:
            return
        self._closed = True
        self._recv_lot.unpark_all()
        self._credit_lot.unpark_all()
        self._link.reset(self.stream_id, ABORTED)
        self._link.forget(self)
        await trio.lowlevel.checkpoint()


class QuicChannel(QuicStream, MultiStreamChannel):
    """The control channel (stream 0) of a QUIC connection, and its sub-streams."""

    async def open_stream(self) -> Channel:
        if self._closed:
            raise ClosedByYou("channel already closed")
        if self._send_error is not None:
            raise again(self._send_error)
        stream = self._link.open_stream()
        await trio.lowlevel.checkpoint()
        return stream

    async def accept_stream(self) -> Channel:
        if self._closed:
            raise ClosedByYou("channel already closed")
        try:
            return await self._link.accepted.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            if self._closed:
                raise ClosedByYou("channel already closed") from None
            raise again(self._end or TransportBroken("connection ended")) from None

    async def aclose(self) -> None:
        """Finish every stream, wait (bounded) until the peer has it all, then
        close the connection."""
        if self._closed:
            return
        for stream in list(self._link.streams.values()):
            stream.close_nowait()
        with trio.CancelScope(shield=True):
            with trio.move_on_after(self._link.linger):
                await self._link.wait_all_delivered()
            self._link.close(NO_ERROR, "closed")
            await self._link.wait_flushed()

    async def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._recv_lot.unpark_all()
        self._credit_lot.unpark_all()
        self._link.close(ABORTED, "aborted")
        with trio.CancelScope(shield=True):
            await self._link.wait_flushed()
