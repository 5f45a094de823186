"""Interactive streams between an action and the center (``stream_*`` messages).

The agent's receive loop hands every ``stream_data`` / ``stream_resize`` /
``stream_close`` it gets to :meth:`StreamHub.deliver`; an action that runs a
stream (``exec.pty``) opens its end with ``ctx.open_stream(stream_id)`` and
reads those messages in order, and sends its own output and its close up.

Inbound messages are buffered per stream up to a bound: a peer that sends
faster than the action consumes gets the stream closed with A024 instead of
growing the agent. A stream opened with a sealed session key (from the task's
signed params) accepts only messages MAC-ed with that key in increasing
``seq`` order (:mod:`transports.streamauth`): the first forged, replayed or
reordered one ends the stream (``forged`` is set; the action closes with A010).

Output is flow-controlled per stream when the center grants a window (the
``window`` of the task's signed params): :meth:`StreamEnd.wait_credit` says how
many bytes may go up now and waits while there is no credit, so the action
stops reading its source (a PTY: the program blocks on its write, as over ssh)
instead of anything queueing; ``stream_credit`` from the center (MAC-ed like
input) returns credit as the browser takes the output. A slow browser stalls
only its own session, and at most the window is on its way per stream.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from transports import ErrorCode, StreamClose, StreamCredit, StreamData, StreamOpen, StreamResize
from transports.streamauth import verify_stream_mac

log = logging.getLogger("starling.agent")

#: Messages buffered per stream before the stream is closed as overrun.
INBOUND_BOUND = 1024
#: Credit a stream may hold at most (a center that grants more is held to this).
MAX_CREDIT = 16 * 1024 * 1024
#: What :meth:`StreamEnd.wait_credit` answers on a stream without flow control.
UNLIMITED = 1 << 62

Send = Callable[[Any], Awaitable[bool]]
Inbound = StreamData | StreamResize | StreamClose | StreamCredit


class StreamEnd:
    """An action's end of one stream."""

    def __init__(self, hub: StreamHub, stream_id: int, send: Send, key: bytes | None = None, window: int = 0) -> None:
        self.stream_id = stream_id
        #: Bytes of output the center takes now; None: no flow control (no window granted).
        self.credit: int | None = min(window, MAX_CREDIT) if window > 0 else None
        self._credited = trio.Event()
        #: True while :meth:`wait_credit` waits (the consumer is behind).
        self.starved = False
        self._key = key
        self._last_seq = 0
        #: Set when a message failed the session key's check (a proxy injecting input).
        self.forged = trio.Event()
        self._hub = hub
        self._send = send
        self._in_send, self._in = trio.open_memory_channel[Inbound](INBOUND_BOUND)
        self._seq = 0
        self.overrun = False
        #: Set when the inbound buffer overran (the reader may be stuck writing).
        self.overran = trio.Event()
        self.closed = False

    @property
    def authenticated(self) -> bool:
        return self._key is not None

    def _deliver(self, msg: Inbound) -> None:
        if self.overrun or self.forged.is_set():
            return
        if self._key is not None:
            if msg.seq <= self._last_seq or not verify_stream_mac(self._key, msg):
                log.warning("stream %s: message %s failed its session key's check; closing the stream", self.stream_id, msg.seq)
                self.forged.set()
                self._in_send.close()
                return
            self._last_seq = msg.seq
        if isinstance(msg, StreamCredit):
            if self.credit is not None and msg.grant > 0:
                self.credit = min(self.credit + msg.grant, MAX_CREDIT)
                self._credited.set()
                self._credited = trio.Event()
            return
        try:
            self._in_send.send_nowait(msg)
        except trio.WouldBlock:
            self.overrun = True
            self.overran.set()
            self._in_send.close()
        except trio.ClosedResourceError:
            pass

    def cut(self, close: StreamClose) -> None:
        """End the stream from this side (its route is gone): the reader gets ``close`` next."""
        if self.overrun or self.forged.is_set():
            return
        try:
            self._in_send.send_nowait(close)
        except (trio.WouldBlock, trio.ClosedResourceError):
            self.overrun = True
            self.overran.set()

    async def receive(self) -> Inbound | None:
        """The next message from the center, or ``None`` when the buffer overran."""
        try:
            return await self._in.receive()
        except trio.EndOfChannel:
            return None

    async def opened(self, kind: str) -> bool:
        """Tell the center the stream's far end is running."""
        return await self._send(StreamOpen(stream_id=self.stream_id, kind=kind))

    async def wait_credit(self) -> int:
        """How many bytes of output may be sent now (at least 1): waits while the
        center has granted none. Read at most this much from the source before
        :meth:`send`; without flow control, :data:`UNLIMITED`."""
        if self.credit is None:
            return UNLIMITED
        while self.credit <= 0:
            self.starved = True
            try:
                await self._credited.wait()
            finally:
                self.starved = False
        return self.credit

    async def send(self, data: bytes) -> bool:
        """Send output (spending credit: read at most :meth:`wait_credit` first)."""
        if self.credit is not None:
            self.credit -= len(data)
        self._seq += 1
        return await self._send(StreamData(stream_id=self.stream_id, seq=self._seq, data=data))

    async def close(self, code: ErrorCode | str = "", message: str = "", status: int | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        await self._send(StreamClose(stream_id=self.stream_id, code=str(code), message=message, status=status))


class StreamHub:
    """The agent's open streams, by id."""

    def __init__(self, send: Send, unseal: Callable[[bytes], bytes] | None = None) -> None:
        self._send = send
        self._unseal = unseal
        self._streams: dict[int, StreamEnd] = {}

    def open(self, stream_id: int, sealed_key: bytes = b"", window: int = 0) -> StreamEnd:
        """Open this end; with ``sealed_key``, only input MAC-ed with the key it seals is taken
        (:class:`ActionError` A010 when it cannot be opened with this agent's key); with
        ``window``, output is flow-controlled starting with that much credit."""
        if stream_id in self._streams:
            raise ValueError(f"stream {stream_id} is already open")
        key = None
        if sealed_key:
            from ._sdk import ActionError

            if self._unseal is None:
                raise ActionError("this agent cannot open a sealed stream key", code=ErrorCode.A010)
            try:
                key = self._unseal(sealed_key)
            except Exception as exc:  # nacl.exceptions.CryptoError, a wrong length
                raise ActionError(f"the stream key was not sealed to this agent: {exc}", code=ErrorCode.A010) from exc
        end = StreamEnd(self, stream_id, self._send, key, window)
        self._streams[stream_id] = end
        return end

    def release(self, stream_id: int) -> None:
        self._streams.pop(stream_id, None)

    def deliver(self, msg: Any) -> None:
        """Route one inbound ``stream_*`` message (unknown streams are dropped)."""
        if isinstance(msg, StreamOpen):
            return  # the center's open only sets up the proxy's route
        end = self._streams.get(msg.stream_id)
        if end is None:
            log.debug("message for unknown stream %s dropped", msg.stream_id)
            return
        end._deliver(msg)

    def link_down(self) -> None:
        """The link to the proxy is gone and with it every stream's route: end them all (P007)."""
        for end in list(self._streams.values()):
            end.cut(StreamClose(stream_id=end.stream_id, code=ErrorCode.P007.value, message="the agent lost its proxy"))

    def __len__(self) -> int:
        return len(self._streams)
