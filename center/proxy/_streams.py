"""The proxy's relay of interactive streams (``stream_*``) between centers and agents.

A center opens a stream with ``stream_open`` naming the agent; the proxy
records the route (stream id -> agent, center link) and forwards it. From then
on ``stream_data``/``stream_resize``/``stream_close`` go down to that agent and
the agent's ``stream_*`` go up to that center link only; an agent can write
only to its own streams. Each direction has one sender per stream that takes
everything queued and sends consecutive ``stream_data`` as one message
(coalescing small writes without adding a delay: a burst of keystrokes or of
output while the link is busy becomes one frame). A queue past its bound, an
agent that disconnects or a center link that drops closes the stream on the
other side with a code.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from transports import (
    Channel,
    ErrorCode,
    StreamClose,
    StreamData,
    StreamOpen,
    send_if_open,
)

log = logging.getLogger("starling.proxy")

#: Bytes queued per stream and direction before the stream is closed as overrun.
MAX_QUEUED = 4 * 1024 * 1024
#: Open streams per proxy.
MAX_STREAMS = 10_000
#: A coalesced ``stream_data`` never grows past this.
MAX_COALESCED = 256 * 1024


@dataclass
class _Queue:
    """One direction of one stream: messages waiting for its sender."""

    items: list[Any] = field(default_factory=list)
    bytes: int = 0
    wake: trio.Event = field(default_factory=trio.Event)
    closed: bool = False


@dataclass
class Route:
    stream_id: int
    agent_id: str
    link: Channel
    down: _Queue = field(default_factory=_Queue)
    up: _Queue = field(default_factory=_Queue)
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)


def coalesce(items: list[Any]) -> list[Any]:
    """Consecutive ``stream_data`` of one stream merged (up to :data:`MAX_COALESCED` bytes)."""
    out: list[Any] = []
    for msg in items:
        prev = out[-1] if out else None
        if (
            isinstance(msg, StreamData) and isinstance(prev, StreamData)
            and len(prev.data) + len(msg.data) <= MAX_COALESCED
        ):
            out[-1] = StreamData(stream_id=msg.stream_id, seq=msg.seq, data=prev.data + msg.data)
        else:
            out.append(msg)
    return out


class StreamRelay:
    """Routes of the open streams of one proxy.

    :param agent_channel: ``agent_id -> Channel | None`` (the agent's current connection).
    """

    def __init__(self, agent_channel: Callable[[str], Channel | None], nursery_start: Callable[..., None]) -> None:
        self._agent_channel = agent_channel
        self._start = nursery_start
        self.routes: dict[int, Route] = {}
        self.statistics: dict[str, int] = {"opened": 0, "messages_in": 0, "messages_out": 0, "overruns": 0}

    # -- from a center ----------------------------------------------------------------------------

    async def from_center(self, link: Channel, msg: Any) -> None:
        if isinstance(msg, StreamOpen):
            await self._open(link, msg)
            return
        route = self.routes.get(msg.stream_id)
        if route is None or route.link is not link:
            if not isinstance(msg, StreamClose):
                await send_if_open(link, StreamClose(stream_id=msg.stream_id, code=ErrorCode.P001.value, message="no such stream on this proxy"))
            return
        self._queue(route, route.down, msg)

    async def _open(self, link: Channel, msg: StreamOpen) -> None:
        if msg.stream_id in self.routes or len(self.routes) >= MAX_STREAMS or self._agent_channel(msg.agent_id) is None:
            why = "agent not connected to this proxy" if self._agent_channel(msg.agent_id) is None else "stream refused by the proxy"
            await send_if_open(link, StreamClose(stream_id=msg.stream_id, code=ErrorCode.P001.value, message=why))
            return
        route = Route(msg.stream_id, msg.agent_id, link)
        self.routes[msg.stream_id] = route
        self.statistics["opened"] += 1
        self._start(self._sender, route, route.down, self._to_agent)
        self._start(self._sender, route, route.up, self._to_center)
        self._queue(route, route.down, msg)

    # -- from an agent ----------------------------------------------------------------------------

    def from_agent(self, agent_id: str, msg: Any) -> None:
        route = self.routes.get(msg.stream_id)
        if route is None or route.agent_id != agent_id:
            return  # not this agent's stream: dropped, never relayed
        self._queue(route, route.up, msg)

    # -- endings ----------------------------------------------------------------------------------

    def agent_gone(self, agent_id: str) -> None:
        """The agent's connection ended: its streams end with P002 at their centers."""
        for route in [r for r in self.routes.values() if r.agent_id == agent_id]:
            self._end(route, to_center=StreamClose(stream_id=route.stream_id, code=ErrorCode.P002.value, message="the agent disconnected during the session"))

    def link_gone(self, link: Channel) -> None:
        """A center link dropped: its streams end at their agents."""
        for route in [r for r in self.routes.values() if r.link is link]:
            self._end(route, to_agent=StreamClose(stream_id=route.stream_id, code=ErrorCode.P007.value, message="the proxy lost its link to the center"))

    def _end(self, route: Route, *, to_center: Any = None, to_agent: Any = None) -> None:
        """Queue a last message (bypassing the bound) and retire the route."""
        self.routes.pop(route.stream_id, None)
        for queue, last in ((route.up, to_center), (route.down, to_agent)):
            if last is not None and not queue.closed:
                queue.items.append(last)
            queue.closed = True
            queue.wake.set()

    def _queue(self, route: Route, queue: _Queue, msg: Any) -> None:
        if queue.closed:
            return
        self.statistics["messages_in"] += 1
        size = len(msg.data) if isinstance(msg, StreamData) else 0
        if queue.bytes + size > MAX_QUEUED:
            self.statistics["overruns"] += 1
            log.warning("stream %s overran its %d-byte queue; closing it", route.stream_id, MAX_QUEUED)
            close = StreamClose(stream_id=route.stream_id, code=ErrorCode.A024.value, message="the stream's queue on the proxy overran")
            self._end(route, to_center=close, to_agent=close)
            return
        queue.items.append(msg)
        queue.bytes += size
        queue.wake.set()
        if isinstance(msg, StreamClose):
            # A close from either side ends the route once it is delivered.
            self.routes.pop(route.stream_id, None)
            queue.closed = True
            other = route.up if queue is route.down else route.down
            other.closed = True
            other.wake.set()

    async def _to_agent(self, route: Route, msg: Any) -> bool:
        channel = self._agent_channel(route.agent_id)
        return channel is not None and await send_if_open(channel, msg)

    async def _to_center(self, route: Route, msg: Any) -> bool:
        return await send_if_open(route.link, msg)

    async def _sender(self, route: Route, queue: _Queue, send: Callable[[Route, Any], Awaitable[bool]]) -> None:
        while True:
            await queue.wake.wait()
            queue.wake = trio.Event()
            items, queue.items, queue.bytes = queue.items, [], 0
            for msg in coalesce(items):
                self.statistics["messages_out"] += 1
                if not await send(route, msg):
                    break
            if queue.closed and not queue.items:
                return
