"""One writer per link for ``stream_*`` messages: what queued meanwhile goes out in one write.

Hundreds of terminal sessions share one center-proxy link (and many share one
agent connection). Sending each keystroke as its own frame costs a TLS record
and a system call per key per hop; under load that is most of the relay's CPU.
A :class:`StreamBatcher` owns the sending of stream messages on one channel:
:meth:`put` queues without waiting, and its writer task takes everything queued,
merges consecutive ``stream_data`` of the same stream, and writes all frames at
once (one ``send_all`` on stream carriers). Nothing waits for a timer: a lone
keystroke on an idle link is written at once, a burst shares a write. The queue
is bounded in bytes per stream: :meth:`put` returns False when the stream's own
bytes would pass ``max_stream`` (the caller closes that stream with A024), so a
stream that floods never takes the room of the others. The whole link has a
bound too (``max_queued``); past it, :meth:`largest` names the stream holding
the most (the caller closes it and :meth:`drop` withdraws its bytes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from transports import StreamChannel, StreamData, TransportError, frame

log = logging.getLogger("starling.streams")

__all__ = ["MAX_COALESCED", "StreamBatcher", "coalesce"]

#: A merged ``stream_data`` never grows past this.
MAX_COALESCED = 256 * 1024
#: Bytes written per ``send_all`` at most (frames beyond go in the next write).
MAX_WRITE = 1024 * 1024


def coalesce(items: list[Any]) -> list[Any]:
    """Merge consecutive ``stream_data`` of one stream, keeping each stream's order
    (messages of different streams may be regrouped: streams are independent)."""
    by_stream: dict[int, list[Any]] = {}
    for msg in items:
        by_stream.setdefault(msg.stream_id, []).append(msg)
    out: list[Any] = []
    for msgs in by_stream.values():
        merged: list[Any] = []
        for msg in msgs:
            prev = merged[-1] if merged else None
            if (
                isinstance(msg, StreamData) and isinstance(prev, StreamData) and not msg.mac and not prev.mac
                and len(prev.data) + len(msg.data) <= MAX_COALESCED
            ):  # MAC-ed input (center -> agent) keeps its frames: the MAC covers each
                merged[-1] = StreamData(stream_id=msg.stream_id, seq=msg.seq, data=prev.data + msg.data)
            else:
                merged.append(msg)
        out += merged
    return out


class StreamBatcher:
    """The stream messages of one channel. ``channel`` is a getter (an agent may reconnect).

    :param max_queued: bytes queued for the whole link before :meth:`largest` names a stream.
    :param max_stream: bytes queued for one stream before :meth:`put` refuses it (default: ``max_queued``).
    :param on_failed: called with the messages of a write that failed (their streams end).
    """

    def __init__(
        self, channel: Callable[[], Any], *, max_queued: int, max_stream: int | None = None,
        on_failed: Callable[[list[Any]], None] | None = None,
    ) -> None:
        self._channel = channel
        self.max_queued = max_queued
        self.max_stream = max_stream or max_queued
        self._on_failed = on_failed
        self._items: list[Any] = []
        self._bytes = 0
        self._per_stream: dict[int, int] = {}  # stream id -> bytes queued
        self._wake = trio.Event()
        self._closed = False
        self.statistics = {"messages": 0, "writes": 0, "frames": 0}

    def put(self, msg: Any) -> bool:
        """Queue one message; False (nothing queued) past its stream's byte bound or after close."""
        if self._closed:
            return False
        size = len(msg.data) if isinstance(msg, StreamData) else 0
        held = self._per_stream.get(msg.stream_id, 0)
        if held + size > self.max_stream:
            return False
        self._items.append(msg)
        self._bytes += size
        if size:
            self._per_stream[msg.stream_id] = held + size
        self.statistics["messages"] += 1
        self._wake.set()
        return True

    def put_last(self, msg: Any) -> None:
        """Queue a final message (a close) whatever the bound."""
        if not self._closed:
            self._items.append(msg)
            self._wake.set()

    def queued(self, stream_id: int) -> int:
        """Bytes of ``stream_id`` waiting to be written."""
        return self._per_stream.get(stream_id, 0)

    def largest(self) -> int | None:
        """Past the link's bound: the stream holding the most bytes (to be closed); else None."""
        if self._bytes <= self.max_queued or not self._per_stream:
            return None
        return max(self._per_stream, key=self._per_stream.__getitem__)

    def drop(self, stream_id: int) -> None:
        """Withdraw what is queued of a stream that is being closed."""
        held = self._per_stream.pop(stream_id, 0)
        if held:
            self._items = [m for m in self._items if m.stream_id != stream_id]
            self._bytes -= held

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop after writing what is queued."""
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            items, self._items, self._bytes, self._per_stream = self._items, [], 0, {}
            if items:
                await self._write(coalesce(items))
            if self._closed and not self._items:
                return

    async def _write(self, msgs: list[Any]) -> None:
        channel = self._channel()
        if channel is None:
            if self._on_failed is not None:
                self._on_failed(msgs)
            return
        try:
            if isinstance(channel, StreamChannel):
                batch: list[bytes] = []
                size = 0
                for msg in msgs:
                    data = frame(msg)
                    batch.append(data)
                    size += len(data)
                    if size >= MAX_WRITE:
                        await channel.send_raw(b"".join(batch))
                        self.statistics["writes"] += 1
                        batch, size = [], 0
                if batch:
                    await channel.send_raw(b"".join(batch))
                    self.statistics["writes"] += 1
            else:
                for msg in msgs:
                    await channel.send(msg)
                    self.statistics["writes"] += 1
            self.statistics["frames"] += len(msgs)
        except TransportError as exc:
            log.info("stream messages lost with their link: %s", exc)
            if self._on_failed is not None:
                self._on_failed(msgs)
