"""Conformance kit: :func:`check_transport` runs every carrier through the same
checks (like trio's ``check_two_way_stream``). Third-party carriers call it from
their own tests::

    async def test_my_carrier():
        await check_transport(MyCarrier(), "mine://127.0.0.1:0")

Each check runs under a deadline, so a carrier that hangs fails instead of
blocking the suite.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from ssl import SSLContext

import trio

from ._base import Carrier, Channel
from ._errors import (
    ChannelClosed,
    ClosedByYou,
    FrameTooLarge,
    ProtocolError,
    TransportBroken,
    TransportError,
)
from ._messages import Message, Ping, Pong, StreamData

SMALL_MAX_FRAME = 256 * 1024


@asynccontextmanager
async def _pair(
    carrier: Carrier,
    url: str,
    server_ssl: SSLContext | None,
    client_ssl: SSLContext | None,
    on_server: Callable[[Channel], Awaitable[None]] | None = None,
) -> AsyncIterator[tuple[Channel, trio.MemoryReceiveChannel[Channel]]]:
    """Serve ``url``; yield a connected client channel and a queue of server channels."""
    accepted_send, accepted_recv = trio.open_memory_channel[Channel](100)

    async def handler(ch: Channel) -> None:
        done = trio.Event()
        await accepted_send.send(ch)
        if on_server is not None:
            await on_server(ch)
        else:
            # Keep the channel open until the test closes it.
            try:
                await done.wait()
            finally:
                pass

    async with trio.open_nursery() as nursery:
        bound = await nursery.start(
            lambda task_status: carrier.serve(
                url, handler, ssl_context=server_ssl, max_frame=SMALL_MAX_FRAME, task_status=task_status
            )
        )
        client = await carrier.connect(bound, ssl_context=client_ssl, max_frame=SMALL_MAX_FRAME)
        try:
            yield client, accepted_recv
        finally:
            await client.aclose()
            nursery.cancel_scope.cancel()


async def _echo(ch: Channel) -> None:
    async for msg in ch:
        await ch.send(msg)


async def check_transport(
    carrier: Carrier,
    url: str,
    *,
    server_ssl: SSLContext | None = None,
    client_ssl: SSLContext | None = None,
    raw_garbage: bytes | None = None,
    raw_half_frame: bytes | None = None,
    raw_oversized: bytes | None = None,
    concurrent: int = 50,
) -> None:
    """Run the whole conformance suite against ``carrier`` listening on ``url``.

    ``raw_*`` are what ``send_raw`` must write to produce garbage, a frame cut
    short, and an over-large frame on this carrier; the defaults suit
    length-prefixed byte streams.
    """
    garbage = raw_garbage if raw_garbage is not None else struct.pack(">I", 7) + b"\xc1garbag"
    half = raw_half_frame if raw_half_frame is not None else struct.pack(">I", 100) + b"\x81"
    oversized = (
        raw_oversized
        if raw_oversized is not None
        else struct.pack(">I", SMALL_MAX_FRAME + 1) + b"\x00" * 64
    )

    with trio.fail_after(60):
        # 1. ordering: a thousand messages arrive whole and in order, both ways
        async with _pair(carrier, url, server_ssl, client_ssl, _echo) as (client, _):
            async def pump() -> None:
                for i in range(1000):
                    await client.send(Ping(seq=i))

            async with trio.open_nursery() as n:
                n.start_soon(pump)
                for i in range(1000):
                    msg = await client.receive()
                    assert isinstance(msg, Ping) and msg.seq == i, msg

            # 2. large message just under the limit round-trips intact
            payload = bytes(range(256)) * ((SMALL_MAX_FRAME - 1024) // 256)
            await client.send(StreamData(stream_id=1, data=payload))
            back = await client.receive()
            assert isinstance(back, StreamData) and back.data == payload

            # 3. an oversized message is refused locally; the channel stays usable
            try:
                await client.send(StreamData(stream_id=1, data=b"x" * (SMALL_MAX_FRAME + 1)))
            except FrameTooLarge:
                pass
            else:
                raise AssertionError("oversized send was not refused")
            await client.send(Pong(seq=7))
            assert await client.receive() == Pong(seq=7)

        # 4. the peer closing cleanly -> ChannelClosed; using our closed side -> ClosedByYou
        async with _pair(carrier, url, server_ssl, client_ssl) as (client, accepted):
            server = await accepted.receive()
            await server.send(Pong(seq=1))
            await server.aclose()
            assert await client.receive() == Pong(seq=1)
            await _expect(client.receive(), ChannelClosed, TransportBroken)
            await client.aclose()
            await _expect(client.send(Ping(seq=1)), ClosedByYou)
            await _expect(client.receive(), ClosedByYou)

        # 5. garbage bytes -> ProtocolError at the receiver, never a hang or crash
        async with _pair(carrier, url, server_ssl, client_ssl) as (client, accepted):
            server = await accepted.receive()
            await client.send_raw(garbage)
            await _expect(server.receive(), ProtocolError)

        # 6. an oversized frame announced by the peer -> FrameTooLarge (or a break)
        async with _pair(carrier, url, server_ssl, client_ssl) as (client, accepted):
            server = await accepted.receive()
            try:
                await client.send_raw(oversized)
            except TransportError:
                pass
            await _expect(server.receive(), FrameTooLarge, TransportBroken)

        # 7. a frame cut short by the peer going away -> TransportBroken
        async with _pair(carrier, url, server_ssl, client_ssl) as (client, accepted):
            server = await accepted.receive()
            await client.send_raw(half)
            await client.aclose()
            # On a byte stream the cut frame is a break; on a message carrier the
            # truncated body itself is undecodable.
            kinds = (TransportBroken,) if raw_half_frame is None else (TransportBroken, ProtocolError)
            await _expect(server.receive(), *kinds)

        # 8. many channels at once, each with its own traffic
        async def one(i: int) -> None:
            ch = await carrier.connect(bound_url, ssl_context=client_ssl, max_frame=SMALL_MAX_FRAME)
            async with ch:
                for j in range(20):
                    await ch.send(Ping(seq=i * 1000 + j))
                    got = await ch.receive()
                    assert got == Ping(seq=i * 1000 + j), got

        async with trio.open_nursery() as n:
            bound_url = await n.start(
                lambda task_status: carrier.serve(
                    url, _echo, ssl_context=server_ssl, max_frame=SMALL_MAX_FRAME, task_status=task_status
                )
            )
            async with trio.open_nursery() as inner:
                for i in range(concurrent):
                    inner.start_soon(one, i)
            n.cancel_scope.cancel()


async def _expect(aw: Awaitable[object], *kinds: type[BaseException]) -> None:
    try:
        with trio.fail_after(10):
            result = await aw
    except kinds:
        return
    raise AssertionError(f"expected {[k.__name__ for k in kinds]}, got {result!r}")


__all__ = ["check_transport", "Message"]
