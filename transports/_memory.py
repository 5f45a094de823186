"""In-memory carrier (``memory://name``) for tests and embedding.

Messages still pass through the codec, so anything that cannot cross a real
wire cannot cross this one either.
"""

from __future__ import annotations

from typing import Any

import trio

from ._base import Carrier, Channel, Handler, run_handler
from ._codec import DEFAULT_MAX_FRAME, decode, encode
from ._errors import ChannelClosed, ClosedByYou, ConnectFailed, FrameTooLarge, TransportBroken
from ._guard import Admission, ConnGate, ConnLimits, gate_for, guarding
from ._messages import Message


class _Link:
    """State both ends of one memory channel share."""

    __slots__ = ("broken",)

    def __init__(self) -> None:
        self.broken = False


class MemoryChannel(Channel):
    carrier = "memory"

    def __init__(
        self,
        send: trio.MemorySendChannel[bytes],
        recv: trio.MemoryReceiveChannel[bytes],
        peer: str,
        max_frame: int,
        link: _Link | None = None,
    ) -> None:
        self._link = link or _Link()
        self._send = send
        self._recv = recv
        self.peer = peer
        self._max_frame = max_frame
        self._receive_limit = max_frame
        self._closed = False

    def _set_receive_limit(self, limit: int | None) -> None:
        self._receive_limit = self._max_frame if limit is None else min(limit, self._max_frame)

    async def send(self, msg: Message) -> None:
        body = encode(msg)
        if len(body) > self._max_frame:
            raise FrameTooLarge(f"message of {len(body)} bytes exceeds max_frame {self._max_frame}")
        await self.send_raw(body)

    async def send_raw(self, data: bytes) -> None:
        if self._closed:
            raise ClosedByYou("channel already closed")
        try:
            await self._send.send(data)
        except trio.BrokenResourceError as exc:
            raise TransportBroken("peer went away") from exc
        except trio.ClosedResourceError as exc:
            raise ClosedByYou("channel already closed") from exc

    async def receive(self) -> Message:
        if self._closed:
            raise ClosedByYou("channel already closed")
        try:
            body = await self._recv.receive()
        except trio.EndOfChannel as exc:
            if self._link.broken:
                raise TransportBroken("peer broke the channel") from exc
            raise ChannelClosed("peer closed the channel") from exc
        except trio.ClosedResourceError as exc:
            raise ClosedByYou("channel already closed") from exc
        if len(body) > self._receive_limit:
            raise FrameTooLarge(f"peer sent {len(body)} bytes (max {self._receive_limit})")
        return decode(body)

    async def abort(self) -> None:
        """Break the channel: the peer's next ``receive`` raises TransportBroken."""
        if self._closed:
            return
        self._link.broken = True
        await self.aclose()

    break_ = abort  # the older name

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._send.aclose()
        await self._recv.aclose()


class _Listener:
    def __init__(self, nursery: trio.Nursery, handler: Handler, max_frame: int, gate: ConnGate | None = None) -> None:
        self.gate = gate
        self.nursery = nursery
        self.handler = handler
        self.max_frame = max_frame
        self.count = 0


_listeners: dict[str, _Listener] = {}


async def _run_guarded(handler: Handler, channel: Channel, admission: Admission | None) -> None:
    with guarding(admission, channel.peer):
        await run_handler(handler, channel)


class MemoryCarrier(Carrier):
    schemes = ("memory",)

    async def connect(self, url: str, *, ssl_context: Any = None, max_frame: int = DEFAULT_MAX_FRAME) -> Channel:
        name = url.split("://", 1)[-1]
        listener = _listeners.get(name)
        if listener is None:
            raise ConnectFailed(f"nothing listens on {url}")
        await trio.lowlevel.checkpoint()
        admission = listener.gate.admit("memory") if listener.gate is not None else None
        if listener.gate is not None and admission is None:
            raise ConnectFailed(f"{url} refused the connection: too many connections")
        a_send, b_recv = trio.open_memory_channel[bytes](64)
        b_send, a_recv = trio.open_memory_channel[bytes](64)
        listener.count += 1
        link = _Link()
        client = MemoryChannel(a_send, a_recv, url, max_frame, link)
        server = MemoryChannel(b_send, b_recv, f"memory-client-{listener.count}", listener.max_frame, link)
        if admission is not None:
            server.start_preauth(admission)
        listener.nursery.start_soon(_run_guarded, listener.handler, server, admission)
        return client

    async def serve(
        self,
        url: str,
        handler: Handler,
        *,
        ssl_context: Any = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        limits: ConnLimits | ConnGate | None = None,
        task_status: Any = trio.TASK_STATUS_IGNORED,
    ) -> None:
        name = url.split("://", 1)[-1]
        if name in _listeners:
            raise ConnectFailed(f"address in use: {url}")
        gate = gate_for(limits, url)
        async with trio.open_nursery() as nursery:
            _listeners[name] = _Listener(nursery, handler, max_frame, gate)
            try:
                task_status.started(url)
                await trio.sleep_forever()
            finally:
                _listeners.pop(name, None)
