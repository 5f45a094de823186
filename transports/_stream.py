"""A :class:`Channel` over any trio byte stream: the base of stream carriers.

Frames are a 4-byte big-endian length and a MessagePack body. A zero-length
frame is the *goodbye*: :meth:`StreamChannel.aclose` writes it before closing,
so the peer tells a clean close (:class:`ChannelClosed`) from a crash, a reset
or a cut cable (:class:`TransportBroken`) even when the operating system
reports all of them as a plain end of stream (a killed process's kernel sends
FIN, not RST).

TCP uses it (``transports._tcp``), and so can a third-party carrier: wrap the
connected trio stream in :class:`StreamChannel` and the framing, the goodbye,
the error translation and ``abort`` come for free.
"""

from __future__ import annotations

import ssl
import struct
from collections.abc import Sequence
from typing import Any

import trio

from ._base import Channel
from ._codec import DEFAULT_MAX_FRAME, FrameReader, decode, frame
from ._errors import ChannelClosed, ClosedByYou, TransportBroken, TransportError
from ._messages import Message

GOODBYE = b"\x00\x00\x00\x00"
_READ_SIZE = 65536
#: Largest piece handed to the stream at once (see ``_send_bytes``).
_SEND_SLICE = 65536
_SMALL_READ = 16384
_LINGER = 2.0  # seconds aclose waits to say goodbye behind a blocked sender
_STREAM_ERRORS = (trio.BrokenResourceError, OSError, ssl.SSLError)
_RECEIVE_ERRORS = (trio.ClosedResourceError, *_STREAM_ERRORS)


def _find_socket(stream: Any) -> Any:
    """The socket under ``stream`` (through TLS layers), or None."""
    for _ in range(8):
        sock = getattr(stream, "socket", None)
        if sock is not None:
            return sock
        stream = getattr(stream, "transport_stream", None)
        if stream is None:
            return None
    return None


class StreamChannel(Channel):
    """A framed message channel over a connected :class:`trio.abc.Stream`.

    :param stream: the connected stream (TCP, TLS over TCP, a unix socket ...).
    :param peer: a printable name of the other end.
    :param max_frame: the largest frame body accepted or sent.
    """

    carrier = "stream"
    # Set only on channels that park (see transports.Parking); the others pay nothing for them.
    _parking: Any = None  # the lot holding this channel now (``parked`` says whether there is one)
    _release: Any = None  # called once when the channel closes: the connection's place in its gate,
    # handed over by the carrier when the handler first returned with the channel parked

    @property
    def parked(self) -> bool:
        return self._parking is not None

    def __init__(self, stream: trio.abc.Stream, peer: str, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._stream = stream
        self.peer = peer
        self._max_frame = max_frame
        self._reader = FrameReader(max_frame)
        self._read_size = _READ_SIZE
        self._ready: list[bytes] = []  # whole frames not yet decoded (a deque costs 600 bytes idle)
        self._send_lock = trio.Lock()
        # The send queue: (sequence number, bytes) not yet taken by a writer;
        # the last sequence number queued, taken by a writer, and written.
        self._pending: list[tuple[int, bytes]] = []
        self._queued = self._taken = self._written = 0
        self._broken: str | None = None  # why the stream cannot be written any more
        #: Writes made to the stream (``send_all`` calls, slices of one large frame counted once).
        self.writes = 0
        self._closed = False
        self._goodbye = False

    def _set_receive_limit(self, limit: int | None) -> None:
        self._reader.max_frame = self._max_frame if limit is None else min(limit, self._max_frame)
        # Before login, read in small pieces (a read allocates its full size first).
        self._read_size = _READ_SIZE if limit is None else min(_READ_SIZE, _SMALL_READ)

    async def send(self, msg: Message) -> None:
        await self._send_bytes(frame(msg, self._max_frame))

    async def send_many(self, msgs: Sequence[Message]) -> None:
        """Send ``msgs`` in order, in as few writes as fit :data:`_SEND_SLICE`."""
        await self._send_bytes(b"".join([frame(m, self._max_frame) for m in msgs]))

    async def send_raw(self, data: bytes) -> None:
        await self._send_bytes(data)

    async def _send_bytes(self, data: bytes) -> None:
        """Queue ``data`` and return once it is written.

        Sends coalesce: while one task writes, others queue their frames; the
        next writer takes everything queued (up to :data:`_SEND_SLICE` bytes a
        write) in one ``send_all``, and the tasks whose frames it carried return
        without writing. Each TLS record, syscall and trio checkpoint then
        serves many small messages instead of one. The queue is bounded by the
        senders: each waits until its own frame is written.
        """
        if self._closed:
            raise ClosedByYou("channel already closed")
        if self._broken is not None:
            raise TransportBroken(self._broken)
        if not data:
            return
        self._queued += 1
        seq = self._queued
        self._pending.append((seq, data))
        try:
            async with self._send_lock:
                if self._written >= seq:
                    return  # an earlier writer carried it
                if self._broken is not None:
                    raise TransportBroken(self._broken)
                if self._closed:
                    raise ClosedByYou("channel already closed")
                while self._written < seq:
                    await self._write_some()
        except BaseException:
            if seq > self._taken:  # still queued: withdraw it (cancelled, or the stream broke)
                self._pending = [p for p in self._pending if p[0] != seq]
            raise

    async def _write_some(self) -> None:
        """Write the head of the queue in one piece (the send lock is held)."""
        size, count = 0, 0
        for _, data in self._pending:
            if count and size + len(data) > _SEND_SLICE:
                break
            size += len(data)
            count += 1
        batch = self._pending[:count]
        del self._pending[:count]
        self._taken = batch[-1][0]
        await self._write(batch[0][1] if count == 1 else b"".join(d for _, d in batch))
        self._written = self._taken
        self.writes += 1

    async def _write(self, data: bytes) -> None:
        try:
            if len(data) <= _SEND_SLICE:
                await self._stream.send_all(data)
            else:
                # In slices: TLS encrypts what it is given into a memory BIO
                # whose buffer never shrinks, so one 4 MiB frame would pin
                # 4 MiB to the connection for its lifetime (a proxy with
                # thousands of agents would keep gigabytes).
                view = memoryview(data)
                for i in range(0, len(view), _SEND_SLICE):
                    await self._stream.send_all(view[i : i + _SEND_SLICE])
        except trio.ClosedResourceError as exc:
            raise ClosedByYou("channel already closed") from exc
        except _STREAM_ERRORS as exc:
            self._broken = f"send to {self.peer} failed: {exc}"
            raise TransportBroken(self._broken) from exc
        except trio.Cancelled:
            # Part of a frame may be out (and trio's SSLStream is broken by a cancelled
            # send_all): the framing is lost, and so are the frames of the senders this
            # write carried. They get TransportBroken, never a "sent" that was not.
            self._broken = f"a send to {self.peer} was cancelled in the middle of a write"
            raise

    async def receive(self) -> Message:
        while not self._ready:
            self._check_receive()
            try:
                data = await self._stream.receive_some(self._read_size)
            except _RECEIVE_ERRORS as exc:
                raise self._receive_failed(exc) from exc
            self._take(data)
        return decode(self._ready.pop(0))

    def receive_nowait(self) -> Message:
        """The next message if it is here already (whole frames read, or bytes the
        socket holds now); :class:`trio.WouldBlock` if not, and then nothing is
        buffered anywhere below this channel. Not a checkpoint."""
        while not self._ready:
            self._check_receive()
            nowait = getattr(self._stream, "receive_some_nowait", None)
            if nowait is None:
                raise trio.WouldBlock
            try:
                data = nowait(self._read_size)
            except _RECEIVE_ERRORS as exc:
                raise self._receive_failed(exc) from exc
            self._take(data)
        return decode(self._ready.pop(0))

    def _receive_failed(self, exc: BaseException) -> TransportError:
        if isinstance(exc, trio.ClosedResourceError):
            return ClosedByYou("channel already closed")
        return TransportBroken(f"receive from {self.peer} failed: {exc}")

    def _check_receive(self) -> None:
        if self._closed:
            raise ClosedByYou("channel already closed")
        if self._goodbye:
            raise ChannelClosed(f"{self.peer} closed the channel")

    def _take(self, data: bytes | bytearray) -> None:
        """Split what arrived into frames (b"": the peer went away)."""
        if not data:
            if self._reader.pending:
                raise TransportBroken(f"{self.peer} went away inside a frame ({self._reader.pending} bytes held)")
            raise TransportBroken(f"{self.peer} went away without closing the channel")
        for body in self._reader.feed(bytes(data)):
            if not body:  # the goodbye: anything after it is ignored
                self._goodbye = True
                break
            self._ready.append(body)

    def park_fileno(self) -> int:
        """The socket a :class:`~transports.Parking` lot waits on for this channel, or
        -1 when it cannot park: a stream that cannot be read without waiting, or a
        connection still under its pre-login bounds."""
        if self._admission is not None or self._closed or not hasattr(self._stream, "receive_some_nowait"):
            return -1
        sock = _find_socket(self._stream)
        return sock.fileno() if sock is not None else -1

    def _closing(self) -> None:
        """The channel closes now: tell a parking lot that holds it (before its socket
        is closed), and run what waited for the end of the connection."""
        lot, self._parking = self._parking, None
        if lot is not None:
            lot.closing(self)
        self._closed = True
        release, self._release = self._release, None
        if release is not None:
            release()

    async def aclose(self) -> None:
        """Say goodbye (unless a blocked sender holds the stream) and close."""
        if self._closed:
            return
        self._closing()
        with trio.CancelScope(shield=True):
            with trio.move_on_after(_LINGER):
                try:
                    async with self._send_lock:
                        # Frames already queued go first: their senders wait for them.
                        while self._pending:
                            await self._write_some()
                        await self._stream.send_all(GOODBYE)
                except (*_STREAM_ERRORS, trio.ClosedResourceError, TransportError):
                    pass
            with trio.move_on_after(_LINGER):
                try:
                    await self._stream.aclose()
                except (*_STREAM_ERRORS, trio.ClosedResourceError):
                    pass
            await trio.aclose_forcefully(self._stream)

    async def abort(self) -> None:
        """Reset the connection (no goodbye, RST where the socket can send one)."""
        if self._closed:
            return
        self._closing()
        sock = _find_socket(self._stream)
        if sock is not None:
            try:
                sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass  # not TCP (a unix socket): a close without goodbye is the break
        with trio.CancelScope(shield=True):
            # Skip close_notify: a reset does not say goodbye at any layer.
            close_now = getattr(self._stream, "close_now", None)
            if close_now is not None:
                close_now()
            elif isinstance(self._stream, trio.SSLStream):
                await trio.aclose_forcefully(self._stream.transport_stream)
            await trio.aclose_forcefully(self._stream)
