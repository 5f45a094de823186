"""The proxy's relay of interactive streams (``stream_*``) between centers and agents.

A center opens a stream with ``stream_open`` naming the agent; the proxy
records the route (stream id -> agent, center link) and forwards it. From then
on ``stream_data``/``stream_resize``/``stream_close`` go down to that agent and
the agent's ``stream_*`` go up to that center link only; an agent can write
only to its own streams. Each link (to a center, to an agent) has one writer
(:class:`center._streambatch.StreamBatcher`) that takes everything queued,
merges consecutive ``stream_data`` of a stream and writes all frames at once:
coalescing without a timer, so a burst of keystrokes or output becomes one
write and a lone keystroke is never delayed. Queues are bounded per stream
(:data:`MAX_STREAM_QUEUED`) and per link (:data:`MAX_QUEUED`): a stream past
its own bound, or the stream holding the most of a link past the link's bound,
is closed both ways with A024 — never another stream that happened to write
next. An agent that disconnects or a center link that drops closes the stream
on the other side with a code.

Terminal output is flow-controlled end to end (``stream_credit``, see
docs/console.md): an agent sends at most the window the center granted before
the center returns credit, so a stream of a well-behaved agent stays far below
its bound here whatever its program prints and however slowly its browser
reads. The proxy relays ``stream_credit`` down like input, and says so with
the feature ``stream_credit`` in its ``hello`` to the center.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transports import Channel, ErrorCode, StreamClose, StreamCredit, StreamOpen, send_if_open

from .._streambatch import StreamBatcher, coalesce

__all__ = ["FEATURES", "MAX_QUEUED", "MAX_STREAMS", "MAX_STREAM_QUEUED", "StreamRelay", "coalesce"]

log = logging.getLogger("starling.proxy")

#: Bytes queued for one stream in one direction before that stream is closed (A024). Above the
#: largest window a center grants (2 MiB, ``[console] terminal_window``), so only an agent that
#: ignores its window gets here.
MAX_STREAM_QUEUED = 4 * 1024 * 1024
#: Bytes queued per link (to a center, to an agent) before its largest stream is closed (A024).
MAX_QUEUED = 64 * 1024 * 1024
#: What this relay adds to protocol version 1, said in the proxy's ``hello`` to its centers.
FEATURES = ("stream_credit",)
#: Open streams per proxy.
MAX_STREAMS = 10_000


@dataclass
class Route:
    stream_id: int
    agent_id: str
    link: Channel


class StreamRelay:
    """Routes of the open streams of one proxy, and one batching writer per link.

    :param agent_channel: ``agent_id -> Channel | None`` (the agent's current connection).
    :param nursery_start: starts the writers (the proxy's nursery).
    """

    def __init__(self, agent_channel: Callable[[str], Channel | None], nursery_start: Callable[..., None]) -> None:
        self._agent_channel = agent_channel
        self._start = nursery_start
        self.routes: dict[int, Route] = {}
        self._up: dict[int, StreamBatcher] = {}  # id(center link) -> writer
        self._down: dict[str, StreamBatcher] = {}  # agent id -> writer
        self.statistics: dict[str, int] = {"opened": 0, "messages_in": 0, "overruns": 0}

    def _writer_up(self, link: Channel) -> StreamBatcher:
        writer = self._up.get(id(link))
        if writer is None:
            writer = self._up[id(link)] = StreamBatcher(lambda: link, max_queued=MAX_QUEUED, max_stream=MAX_STREAM_QUEUED)
            self._start(writer.run)
        return writer

    def _writer_down(self, agent_id: str) -> StreamBatcher:
        writer = self._down.get(agent_id)
        if writer is None:
            writer = self._down[agent_id] = StreamBatcher(
                lambda: self._agent_channel(agent_id), max_queued=MAX_QUEUED, max_stream=MAX_STREAM_QUEUED)
            self._start(writer.run)
        return writer

    # -- from a center ----------------------------------------------------------------------------

    async def from_center(self, link: Channel, msg: Any) -> None:
        if isinstance(msg, StreamOpen):
            await self._open(link, msg)
            return
        route = self.routes.get(msg.stream_id)
        if route is None or route.link is not link:
            # A credit for a stream that has ended is moot. Anything else is answered P001 behind
            # what is queued up for that link: an agent's close may be queued there still (the
            # route ends when the proxy takes it), and the center must read it first.
            if not isinstance(msg, (StreamClose, StreamCredit)):
                self._writer_up(link).put_last(
                    StreamClose(stream_id=msg.stream_id, code=ErrorCode.P001.value, message="no such stream on this proxy"))
            return
        self._relay(route, msg, down=True)

    async def _open(self, link: Channel, msg: StreamOpen) -> None:
        if msg.stream_id in self.routes or len(self.routes) >= MAX_STREAMS or self._agent_channel(msg.agent_id) is None:
            why = "agent not connected to this proxy" if self._agent_channel(msg.agent_id) is None else "stream refused by the proxy"
            await send_if_open(link, StreamClose(stream_id=msg.stream_id, code=ErrorCode.P001.value, message=why))
            return
        route = Route(msg.stream_id, msg.agent_id, link)
        self.routes[msg.stream_id] = route
        self.statistics["opened"] += 1
        self._relay(route, msg, down=True)

    # -- from an agent ----------------------------------------------------------------------------

    def from_agent(self, agent_id: str, msg: Any) -> None:
        route = self.routes.get(msg.stream_id)
        if route is None or route.agent_id != agent_id:
            return  # not this agent's stream: dropped, never relayed
        self._relay(route, msg, down=False)

    # -- relaying and endings -----------------------------------------------------------------------

    def _relay(self, route: Route, msg: Any, *, down: bool) -> None:
        self.statistics["messages_in"] += 1
        writer = self._writer_down(route.agent_id) if down else self._writer_up(route.link)
        if isinstance(msg, StreamClose):
            writer.put_last(msg)
            self.routes.pop(route.stream_id, None)  # a close from either side ends the route
            return
        if not writer.put(msg):
            self._overrun(route, f"its {MAX_STREAM_QUEUED}-byte bound")
            return
        victim = writer.largest()
        if victim is not None and victim in self.routes:
            self._overrun(self.routes[victim], f"the most of its link's {MAX_QUEUED}-byte bound")

    def _overrun(self, route: Route, why: str) -> None:
        """Close a stream whose queue on this proxy overran, both ways, dropping what it queued."""
        self.statistics["overruns"] += 1
        log.warning("stream %s queued %s on the proxy; closing it", route.stream_id, why)
        close = StreamClose(stream_id=route.stream_id, code=ErrorCode.A024.value, message="the stream's queue on the proxy overran")
        for writer in (self._writer_down(route.agent_id), self._writer_up(route.link)):
            writer.drop(route.stream_id)
            writer.put_last(close)
        self.routes.pop(route.stream_id, None)

    def agent_gone(self, agent_id: str) -> None:
        """The agent's connection ended: its streams end with P002 at their centers."""
        for route in [r for r in self.routes.values() if r.agent_id == agent_id]:
            self.routes.pop(route.stream_id, None)
            self._writer_up(route.link).put_last(
                StreamClose(stream_id=route.stream_id, code=ErrorCode.P002.value, message="the agent disconnected during the session"))
        writer = self._down.pop(agent_id, None)
        if writer is not None:
            writer.close()

    def link_gone(self, link: Channel) -> None:
        """A center link dropped: its streams end at their agents."""
        for route in [r for r in self.routes.values() if r.link is link]:
            self.routes.pop(route.stream_id, None)
            self._writer_down(route.agent_id).put_last(
                StreamClose(stream_id=route.stream_id, code=ErrorCode.P007.value, message="the proxy lost its link to the center"))
        writer = self._up.pop(id(link), None)
        if writer is not None:
            writer.close()
