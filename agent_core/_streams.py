"""Interactive streams between an action and the center (``stream_*`` messages).

The agent's receive loop hands every ``stream_data`` / ``stream_resize`` /
``stream_close`` it gets to :meth:`StreamHub.deliver`; an action that runs a
stream (``exec.pty``) opens its end with ``ctx.open_stream(stream_id)`` and
reads those messages in order, and sends its own output and its close up.

Inbound messages are buffered per stream up to a bound: a peer that sends
faster than the action consumes gets the stream closed with A024 instead of
growing the agent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from transports import ErrorCode, StreamClose, StreamData, StreamOpen, StreamResize

log = logging.getLogger("starling.agent")

#: Messages buffered per stream before the stream is closed as overrun.
INBOUND_BOUND = 1024

Send = Callable[[Any], Awaitable[bool]]
Inbound = StreamData | StreamResize | StreamClose


class StreamEnd:
    """An action's end of one stream."""

    def __init__(self, hub: StreamHub, stream_id: int, send: Send) -> None:
        self.stream_id = stream_id
        self._hub = hub
        self._send = send
        self._in_send, self._in = trio.open_memory_channel[Inbound](INBOUND_BOUND)
        self._seq = 0
        self.overrun = False
        self.closed = False

    def _deliver(self, msg: Inbound) -> None:
        if self.overrun:
            return
        try:
            self._in_send.send_nowait(msg)
        except trio.WouldBlock:
            self.overrun = True
            # Tell the reader: the bound is for data; a close always gets through.
            self._in_send.close()
        except trio.ClosedResourceError:
            pass

    async def receive(self) -> Inbound | None:
        """The next message from the center, or ``None`` when the buffer overran."""
        try:
            return await self._in.receive()
        except trio.EndOfChannel:
            return None

    async def opened(self, kind: str) -> bool:
        """Tell the center the stream's far end is running."""
        return await self._send(StreamOpen(stream_id=self.stream_id, kind=kind))

    async def send(self, data: bytes) -> bool:
        self._seq += 1
        return await self._send(StreamData(stream_id=self.stream_id, seq=self._seq, data=data))

    async def close(self, code: ErrorCode | str = "", message: str = "", status: int | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        await self._send(StreamClose(stream_id=self.stream_id, code=str(code), message=message, status=status))


class StreamHub:
    """The agent's open streams, by id."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._streams: dict[int, StreamEnd] = {}

    def open(self, stream_id: int) -> StreamEnd:
        if stream_id in self._streams:
            raise ValueError(f"stream {stream_id} is already open")
        end = StreamEnd(self, stream_id, self._send)
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

    def __len__(self) -> int:
        return len(self._streams)
