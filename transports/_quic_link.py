"""One QUIC connection driven from trio: aioquic's sans-I/O ``QuicConnection``,
its timers, keep-alive pings, and the Starling streams on top of it
(``_quic_stream``).

The same :class:`QuicLink` serves both sides; the carrier (``_quic.py``) owns
the UDP socket and feeds datagrams in. Only this module and ``_quic.py``
touch aioquic; library errors stop here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from aioquic.buffer import Buffer
from aioquic.quic import events
from aioquic.quic.connection import QuicConnection

from ._errors import ProtocolError, TransportBroken, TransportError
from ._quic_stream import ABORTED, ALPN, NO_ERROR, VIOLATION, QuicChannel, QuicStream, again, credit

log = logging.getLogger("starling.transports.quic")

_SLIM_CRYPTO_BUFFER = 1024  # room for a post-handshake message such as a session ticket

SendDatagram = Callable[[bytes, Any], Awaitable[None]]


def _closing(quic: QuicConnection) -> events.ConnectionTerminated | None:
    """The close under way (sent or received), if any.

    aioquic reports ``ConnectionTerminated`` only after the closing period;
    its pending close event is the earliest sign, and not public.
    """
    return getattr(quic, "_close_event", None)


def _slim(quic: QuicConnection) -> None:
    """Shrink aioquic's TLS scratch buffers once the handshake is over.

    aioquic keeps three 16 KiB buffers per connection for its whole life; after
    the handshake they are empty and (no session tickets are issued) barely
    used, so small ones halve the memory of an idle connection. A peer that
    sent a large post-handshake TLS message would fail only its own connection.
    """
    buffers = getattr(quic, "_crypto_buffers", None)
    if not isinstance(buffers, dict):
        return
    for epoch, buf in list(buffers.items()):
        if buf.tell() == 0:
            buffers[epoch] = Buffer(capacity=_SLIM_CRYPTO_BUFFER)


class QuicLink:
    """Drive one ``QuicConnection``: feed datagrams in, run its timers, send its
    datagrams, keep it alive, and hand stream events to :class:`QuicStream`.

    :param quic: the aioquic connection (client or server side).
    :param send_datagram: ``await send_datagram(data, addr)`` puts one datagram
        on the wire; its ``OSError`` ends the link.
    :param max_frame: the largest frame body accepted or sent.
    :param window: unconsumed bytes a sender may have in flight per stream.
    :param idle_timeout: seconds without a packet from the peer before the
        connection is dead; pings go out every third of it.
    :param linger: seconds ``aclose`` waits for the peer to acknowledge our data.
    :param handshake_timeout: seconds the TLS handshake may take.
    """

    def __init__(
        self,
        quic: QuicConnection,
        send_datagram: SendDatagram,
        *,
        max_frame: int,
        window: int,
        idle_timeout: float,
        linger: float,
        handshake_timeout: float,
    ) -> None:
        self.quic = quic
        self._send_datagram = send_datagram
        self.max_frame = max_frame
        self.window = window
        self.linger = linger
        self._ping_interval = idle_timeout / 3
        self._is_client = quic.configuration.is_client
        now = trio.current_time()
        self._handshake_deadline: float | None = now + handshake_timeout
        self._last_rx = now
        self._last_ping = now
        self._ping_uid = 0
        self._wake = trio.Event()
        self._progress = trio.lowlevel.ParkingLot()
        self._flushed = trio.lowlevel.ParkingLot()
        self._finished_streams: set[int] = set()
        self.handshake_done = trio.Event()  # and, on a server, stream 0 opened
        self._handshake_ok = False
        self.finished = trio.Event()
        self.ended: TransportError | None = None
        self.streams: dict[int, QuicStream] = {}
        # Highest peer-opened bidirectional stream so far: the server's are 1, 5, 9 ...,
        # the client's 0 (control), 4, 8 ...
        self._max_peer_stream = -3 if quic.configuration.is_client else 0
        self.accepted_send, self.accepted = trio.open_memory_channel[QuicStream](math.inf)
        self.control = QuicChannel(self, 0)
        self.streams[0] = self.control
        if self._is_client:
            # Open the control stream at once (sent with the first 1-RTT packet).
            quic.send_stream_data(0, credit(0))
        # Set by the server to keep its connection-id routing table right.
        self.on_cid_issued: Callable[[bytes], None] = lambda cid: None
        self.on_cid_retired: Callable[[bytes], None] = lambda cid: None

    # --- state ------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.ended is None and _closing(self.quic) is None

    @property
    def peer(self) -> str:
        addr = self.quic.get_peer_address()
        if addr is None:
            return "?"
        host = addr[0]
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"

    def wake(self) -> None:
        self._wake.set()

    # --- what streams ask of the connection -----------------------------------------

    def write(self, stream_id: int, data: bytes, *, end_stream: bool = False) -> None:
        if not self.alive:
            raise again(self.ended or TransportBroken(f"connection to {self.peer} is closing"))
        try:
            self.quic.send_stream_data(stream_id, data, end_stream=end_stream)
        except (ValueError, RuntimeError, AssertionError) as exc:
            raise TransportBroken(f"stream {stream_id} can no longer send: {exc}") from exc
        if end_stream:
            self._finished_streams.add(stream_id)
        self.wake()

    def stop(self, stream_id: int, code: int) -> None:
        try:
            self.quic.stop_stream(stream_id, code)
        except (ValueError, RuntimeError, AssertionError):
            pass  # the stream is already gone
        self.wake()

    def reset(self, stream_id: int, code: int) -> None:
        if not self.alive:
            return
        try:
            self.quic.reset_stream(stream_id, code)
            self.quic.stop_stream(stream_id, code)
        except (ValueError, RuntimeError, AssertionError):
            pass
        self.wake()

    def forget(self, stream: QuicStream) -> None:
        if stream.stream_id != 0:
            self.streams.pop(stream.stream_id, None)

    def open_stream(self) -> QuicStream:
        if not self.alive:
            raise again(self.ended or TransportBroken(f"connection to {self.peer} is closing"))
        stream_id = self.quic.get_next_available_stream_id()
        stream = QuicStream(self, stream_id)
        self.streams[stream_id] = stream
        self.write(stream_id, credit(0))  # a zero credit makes the stream exist at the peer now
        return stream

    def on_violation(self, stream: QuicStream, exc: ProtocolError) -> None:
        log.debug("protocol error from %s on stream %d: %s", self.peer, stream.stream_id, exc)
        if stream.stream_id == 0:
            self.close(VIOLATION, str(exc)[:100])
        else:
            self.reset(stream.stream_id, VIOLATION)

    def close(self, code: int, reason: str) -> None:
        if self.alive:
            self.quic.close(error_code=code, reason_phrase=reason)
        self.wake()

    def fail(self, exc: TransportError) -> None:
        """End the link at once without a word to the peer (socket failure)."""
        self._end_streams(exc)
        self.finished.set()
        self.wake()

    async def wait_all_delivered(self) -> None:
        """Wait until the peer acknowledged everything on every stream we ended."""
        while (
            self.ended is None
            and not self.finished.is_set()
            and not all(map(self._delivered, self._finished_streams))
        ):
            await self._progress.park()

    def _delivered(self, stream_id: int) -> bool:
        # aioquic has no public word for "all sent data acknowledged"; its stream
        # object knows (sender.is_finished: data and FIN acked), and is dropped
        # once both directions are done.
        stream = self.quic._streams.get(stream_id)  # noqa: SLF001
        return stream is None or stream.sender.is_finished

    async def wait_flushed(self) -> None:
        """Wait until the driver has put out what is queued (e.g. a close)."""
        if not self.finished.is_set():
            with trio.move_on_after(1):
                await self._flushed.park()

    # --- driving -------------------------------------------------------------------

    def feed(self, data: bytes, addr: Any) -> None:
        """Hand one datagram from ``addr`` to the connection."""
        now = trio.current_time()
        self._last_rx = now
        try:
            self.quic.receive_datagram(data, addr, now=now)
        except Exception as exc:  # a QUIC stack bug must end this link only
            log.exception("QUIC stack failed on a datagram from %s", addr)
            self.fail(TransportBroken(f"QUIC stack error: {exc!r}"))
        self.wake()

    async def run(self) -> None:
        """Run until the connection is over; never raises (except Cancelled)."""
        try:
            await self._run()
        except Exception as exc:
            log.exception("QUIC link to %s failed", self.peer)
            self.fail(TransportBroken(f"QUIC link error: {exc!r}"))
        finally:
            if not self.finished.is_set():
                # Cancelled (the server or the client task is going away):
                # finish the streams and say goodbye, best effort.
                with trio.CancelScope(shield=True), trio.move_on_after(0.5):
                    await self._farewell()
            self.finished.set()
            if self.ended is None:
                self._end_streams(TransportBroken("connection dropped"))
            self._flushed.unpark_all()
            self._progress.unpark_all()

    async def _farewell(self) -> None:
        if not self.alive:
            return
        for stream in list(self.streams.values()):
            stream.close_nowait()
        await self._transmit()
        self.quic.close(error_code=NO_ERROR, reason_phrase="shutting down")
        await self._transmit()

    async def _run(self) -> None:
        while not self.finished.is_set():
            self._process_events()
            await self._transmit()
            self._flushed.unpark_all()
            if self.finished.is_set():
                return
            deadline = self._deadline()
            with trio.move_on_at(deadline):
                await self._wake.wait()
            self._wake = trio.Event()
            now = trio.current_time()
            timer = self.quic.get_timer()
            if timer is not None and now >= timer:
                self.quic.handle_timer(now=now)
            self._keep_alive(now)

    def _deadline(self) -> float:
        deadline = self.quic.get_timer()
        deadline = math.inf if deadline is None else deadline
        if self._handshake_deadline is not None:
            deadline = min(deadline, self._handshake_deadline)
        elif self.alive:
            deadline = min(deadline, max(self._last_rx, self._last_ping) + self._ping_interval)
        return deadline

    def _keep_alive(self, now: float) -> None:
        if self._handshake_deadline is not None:
            if now >= self._handshake_deadline:
                self._handshake_deadline = None
                self.close(ABORTED, "handshake timeout")
            return
        if self.alive and now >= max(self._last_rx, self._last_ping) + self._ping_interval:
            self._ping_uid += 1
            self.quic.send_ping(self._ping_uid)
            self._last_ping = now

    async def _transmit(self) -> None:
        for data, addr in self.quic.datagrams_to_send(now=trio.current_time()):
            try:
                await self._send_datagram(data, addr)
            except OSError as exc:
                self.fail(TransportBroken(f"cannot send to {self.peer}: {exc}"))
                return

    def _process_events(self) -> None:
        while (event := self.quic.next_event()) is not None:
            if isinstance(event, events.StreamDataReceived):
                stream = self._stream_for(event.stream_id)
                if stream is not None:
                    stream.on_data(event.data, event.end_stream)
                if event.stream_id == 0 and self._handshake_ok:
                    self._ready()
            elif isinstance(event, events.HandshakeCompleted):
                if event.alpn_protocol != ALPN:
                    self.close(ABORTED, f"ALPN {ALPN} required")
                else:
                    self._handshake_ok = True
                    # The server may only write on stream 0 once the client
                    # opened it (the client announces it right after connecting).
                    if self._is_client or 0 in self.quic._streams:  # noqa: SLF001
                        self._ready()
            elif isinstance(event, events.StreamReset):
                if (stream := self.streams.get(event.stream_id)) is not None:
                    stream.on_reset()
            elif isinstance(event, events.StopSendingReceived):
                if (stream := self.streams.get(event.stream_id)) is not None:
                    stream.on_stop_sending()
            elif isinstance(event, events.ConnectionIdIssued):
                self.on_cid_issued(event.connection_id)
            elif isinstance(event, events.ConnectionIdRetired):
                self.on_cid_retired(event.connection_id)
            elif isinstance(event, events.ConnectionTerminated):
                self._end_streams(self._termination_error(event))
                self.finished.set()
        # A close (theirs or ours) ends the streams now, not after the closing
        # period that aioquic waits before it reports ConnectionTerminated.
        closing = _closing(self.quic)
        if closing is not None:
            self._end_streams(self._termination_error(closing))
        self._progress.unpark_all()

    def _ready(self) -> None:
        self._handshake_deadline = None
        _slim(self.quic)
        self.handshake_done.set()

    def _termination_error(self, event: events.ConnectionTerminated) -> TransportError:
        peer = self.peer
        if event.reason_phrase == "Idle timeout":
            return TransportBroken(f"no sign of life from {peer} (idle timeout)")
        if event.error_code == ABORTED and event.frame_type is None:
            return TransportBroken(f"{peer} aborted the connection: {event.reason_phrase}")
        if event.error_code == NO_ERROR:
            return TransportBroken(f"connection to {peer} ended before the channel was closed")
        return TransportBroken(
            f"connection to {peer} failed: {event.reason_phrase or 'error'} (0x{event.error_code:x})"
        )

    def _end_streams(self, exc: TransportError) -> None:
        if self.ended is not None:
            return
        self.ended = exc
        for stream in list(self.streams.values()):
            stream.on_link_end(exc)
        self.accepted_send.close()
        self._progress.unpark_all()

    def _stream_for(self, stream_id: int) -> QuicStream | None:
        stream = self.streams.get(stream_id)
        if stream is not None:
            return stream
        if stream_id & 2:  # unidirectional streams are not part of the protocol
            self.stop(stream_id, VIOLATION)
            return None
        peer_initiated = (stream_id & 1) == (1 if self._is_client else 0)
        if not peer_initiated or stream_id <= self._max_peer_stream:
            return None  # ours and already closed, or theirs and already closed
        # Opening stream N opens every lower one of its kind (RFC 9000 2.1),
        # whichever arrives first.
        for sid in range(self._max_peer_stream + 4, stream_id + 1, 4):
            opened = QuicStream(self, sid)
            self.streams[sid] = opened
            self.accepted_send.send_nowait(opened)
        self._max_peer_stream = stream_id
        return self.streams[stream_id]
