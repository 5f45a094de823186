"""The agent's end of the file channel: fetch chunks from the proxy, hand
collected chunks to it (``chunk_get``/``chunk_data``, ``chunk_put``/``chunk_ack``).

Chunks belong to the agent, not to a connection: a request lost with a broken
link is asked again on the next one, so an action waiting for a chunk simply
waits longer. Only an answer with a code (the chunk does not exist upstream,
the center refused it) ends the wait with an :class:`ActionError`.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from transports import ChunkAck, ChunkData, ChunkGet, ChunkPut, ErrorCode, RateLimit

from ._sdk import ActionError

#: How long one request may stay unanswered on a live link before it is asked
#: again. The proxy answers every request (data or a code), so this only
#: guards against a peer that lost it; a broken link re-asks at once.
ASK_AGAIN_AFTER = 600.0


class ChunkClient:
    """Request/answer matching over whatever link the agent holds right now.

    :param send: sends a message on the current link; False when there is none.
    :param rate: per-agent bandwidth cap in bytes per second (0: none).
    """

    def __init__(self, send: Callable[[Any], Awaitable[bool]], *, rate: float = 0.0) -> None:
        self._send = send
        self._ids = itertools.count(1)
        self._waiting: dict[int, tuple[trio.Event, list[Any]]] = {}
        self._link = trio.Event()
        self.limit = RateLimit(rate)
        self.statistics = {"fetched": 0, "fetched_bytes": 0, "put": 0, "put_bytes": 0, "asked_again": 0}

    # -- link events (called by the agent's connection loop) ---------------------------

    def link_up(self) -> None:
        self._link.set()

    def link_down(self) -> None:
        """The link broke: every open request is asked again on the next one."""
        self._link = trio.Event()
        for ev, box in self._waiting.values():
            box.append(None)
            ev.set()

    def deliver(self, msg: ChunkData | ChunkAck) -> None:
        """An answer arrived; unknown ``req`` (answered twice, or given up) is ignored."""
        entry = self._waiting.get(msg.req)
        if entry is not None:
            entry[1].append(msg)
            entry[0].set()

    # -- requests ----------------------------------------------------------------------

    async def _ask(self, make: Callable[[int], Any]) -> Any:
        while True:
            await self._link.wait()
            req = next(self._ids)
            ev, box = trio.Event(), list[Any]()
            self._waiting[req] = (ev, box)
            try:
                if await self._send(make(req)):
                    with trio.move_on_after(ASK_AGAIN_AFTER):
                        await ev.wait()
            finally:
                self._waiting.pop(req, None)
            answer = box[0] if box else None
            if answer is not None:
                return answer
            self.statistics["asked_again"] += 1
            await trio.sleep(0.2)  # the link is down or slow: ask again on the next

    async def get(self, digest: str, *, refresh: bool = False) -> bytes:
        """The chunk with SHA-256 ``digest``, as sent (the caller verifies it).

        :param refresh: the last copy was corrupt; ask the proxy to fetch anew.
        :raises ActionError: with the upstream code when the chunk cannot be had.
        """
        while True:
            answer: ChunkData = await self._ask(lambda req: ChunkGet(req=req, hash=digest, refresh=refresh))
            if not answer.code.startswith("P"):
                break
            # The proxy lost its center for a while: that passes, ask again.
            self.statistics["asked_again"] += 1
            await trio.sleep(1.0)
        if answer.code:
            raise ActionError(answer.message or f"chunk {digest[:12]}… unavailable", code=ErrorCode.of(answer.code, ErrorCode.C031))
        await self.limit.take(len(answer.data))
        self.statistics["fetched"] += 1
        self.statistics["fetched_bytes"] += len(answer.data)
        return answer.data

    async def put(self, digest: str, data: bytes) -> None:
        """Hand one chunk to the center (through the proxy) and wait until it is stored."""
        await self.limit.take(len(data))
        answer: ChunkAck = await self._ask(lambda req: ChunkPut(req=req, hash=digest, data=data))
        if answer.code:
            raise ActionError(answer.message or f"chunk {digest[:12]}… refused", code=ErrorCode.of(answer.code, ErrorCode.C032))
        self.statistics["put"] += 1
        self.statistics["put_bytes"] += len(data)
