"""Conformance kit: :func:`check_transport` runs every carrier through the same
checks (like trio's ``check_two_way_stream``). Third-party carriers call it from
their own tests::

    async def test_my_carrier():
        await check_transport(MyCarrier(), "mine://127.0.0.1:0")

What it checks, in order:

1. ordering: a thousand messages arrive whole and in order, both ways;
2. a message just under ``max_frame`` round-trips intact;
3. an over-large message is refused locally and the channel stays usable;
4. the peer closing cleanly gives :class:`ChannelClosed` after its last
   message; using our own closed side gives :class:`ClosedByYou`;
5. garbage bytes give :class:`ProtocolError` at the receiver;
6. a frame announcing more than ``max_frame`` gives :class:`FrameTooLarge`;
7. a frame cut short by the peer going away gives :class:`TransportBroken`;
8. many channels at once, all open together, each with its own traffic;
9. close vs broken: a clean close is :class:`ChannelClosed`, an ``abort``
   (a crash) is :class:`TransportBroken`, both ways; a task blocked in
   ``receive`` when its own side closes gets :class:`ClosedByYou`;
10. the server outlives bad clients and crashing handlers;
11. sub-streams, for carriers whose channels are :class:`MultiStreamChannel`.

Each check runs under a deadline, so a carrier that hangs fails instead of
blocking the suite.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from ssl import SSLContext
from typing import Any

import trio

from ._base import Carrier, Channel, MultiStreamChannel
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

Handler = Callable[[Channel], Awaitable[None]]


class _Kit:
    """The per-run settings every check shares."""

    def __init__(
        self,
        carrier: Carrier,
        url: str,
        server_ssl: SSLContext | None,
        client_ssl: SSLContext | None,
        connect_kwargs: dict[str, Any],
        serve_kwargs: dict[str, Any],
    ) -> None:
        self.carrier = carrier
        self.url = url
        self.server_ssl = server_ssl
        self.client_ssl = client_ssl
        self.connect_kwargs = connect_kwargs
        self.serve_kwargs = serve_kwargs

    async def serve(self, nursery: trio.Nursery, handler: Handler) -> str:
        bound: str = await nursery.start(
            lambda task_status: self.carrier.serve(
                self.url,
                handler,
                ssl_context=self.server_ssl,
                max_frame=SMALL_MAX_FRAME,
                task_status=task_status,
                **self.serve_kwargs,
            )
        )
        return bound

    async def connect(self, bound: str) -> Channel:
        return await self.carrier.connect(
            bound, ssl_context=self.client_ssl, max_frame=SMALL_MAX_FRAME, **self.connect_kwargs
        )

    @asynccontextmanager
    async def pair(
        self, on_server: Handler | None = None
    ) -> AsyncIterator[tuple[Channel, trio.MemoryReceiveChannel[Channel]]]:
        """Serve; yield a connected client channel and a queue of server channels."""
        accepted_send, accepted_recv = trio.open_memory_channel[Channel](100)

        async def handler(ch: Channel) -> None:
            await accepted_send.send(ch)
            if on_server is not None:
                await on_server(ch)
            else:
                await trio.sleep_forever()  # keep it open until the test ends

        async with trio.open_nursery() as nursery:
            bound = await self.serve(nursery, handler)
            client = await self.connect(bound)
            try:
                yield client, accepted_recv
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(10):
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
    broken_within: float = 10.0,
    connect_kwargs: dict[str, Any] | None = None,
    serve_kwargs: dict[str, Any] | None = None,
) -> None:
    """Run the whole conformance suite against ``carrier`` listening on ``url``.

    :param carrier: the carrier instance under test.
    :param url: where to serve; port 0 (or the carrier's equivalent) is best.
    :param server_ssl: TLS context for ``serve``; None for a plain carrier.
    :param client_ssl: TLS context for ``connect``.
    :param raw_garbage: what ``send_raw`` must write to produce undecodable
        input; the default suits length-prefixed framing.
    :param raw_half_frame: what ``send_raw`` writes to leave a frame cut short.
        When given, the carrier is treated as message-based and a cut frame may
        also surface as :class:`ProtocolError`.
    :param raw_oversized: what ``send_raw`` writes to announce an over-large frame.
    :param concurrent: how many channels check 8 holds open at once.
    :param broken_within: seconds the carrier may take to notice that a peer
        aborted (its keep-alive or session timeout, as configured for the test).
    :param connect_kwargs: extra keyword arguments for every ``connect``.
    :param serve_kwargs: extra keyword arguments for every ``serve``.
    """
    kit = _Kit(carrier, url, server_ssl, client_ssl, connect_kwargs or {}, serve_kwargs or {})
    garbage = raw_garbage if raw_garbage is not None else struct.pack(">I", 7) + b"\xc1garbag"
    half = raw_half_frame if raw_half_frame is not None else struct.pack(">I", 100) + b"\x81"
    oversized = (
        raw_oversized
        if raw_oversized is not None
        else struct.pack(">I", SMALL_MAX_FRAME + 1) + b"\x00" * 64
    )
    cut_kinds: tuple[type[BaseException], ...] = (
        (TransportBroken,) if raw_half_frame is None else (TransportBroken, ProtocolError)
    )

    with trio.fail_after(60 + 3 * broken_within):
        await _check_ordering_large_oversized(kit)
        await _check_clean_close(kit)
        await _check_bad_input(kit, garbage, oversized, half, cut_kinds)
        await _check_many_channels(kit, concurrent)
        await _check_close_vs_broken(kit, broken_within)
        await _check_server_survives(kit, garbage)
        await _check_substreams(kit)


async def _check_ordering_large_oversized(kit: _Kit) -> None:
    # 1. ordering: a thousand messages arrive whole and in order, both ways
    async with kit.pair(_echo) as (client, _):

        async def pump() -> None:
            for i in range(1000):
                await client.send(Ping(seq=i))

        async with trio.open_nursery() as n:
            n.start_soon(pump)
            for i in range(1000):
                msg = await client.receive()
                assert isinstance(msg, Ping) and msg.seq == i, msg

        # 1b. a batch (send_many) arrives whole and in order, after what went before
        await client.send_many([Ping(seq=i) for i in range(50)])
        for i in range(50):
            msg = await client.receive()
            assert isinstance(msg, Ping) and msg.seq == i, msg

        # 2. a large message just under the limit round-trips intact
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


async def _check_clean_close(kit: _Kit) -> None:
    # 4. the peer closing cleanly -> its last message, then ChannelClosed;
    #    using our closed side -> ClosedByYou
    async with kit.pair() as (client, accepted):
        server = await accepted.receive()
        await server.send(Pong(seq=1))
        await server.aclose()
        assert await _within(client.receive()) == Pong(seq=1)
        await _expect(client.receive(), ChannelClosed)
        await client.aclose()
        await _expect(client.send(Ping(seq=1)), ClosedByYou)
        await _expect(client.receive(), ClosedByYou)
        await client.aclose()  # idempotent
        await client.abort()  # and abort after close does nothing


async def _check_bad_input(
    kit: _Kit,
    garbage: bytes,
    oversized: bytes,
    half: bytes,
    cut_kinds: tuple[type[BaseException], ...],
) -> None:
    # 5. garbage bytes -> ProtocolError at the receiver, never a hang or crash
    async with kit.pair() as (client, accepted):
        server = await accepted.receive()
        await client.send_raw(garbage)
        await _expect(server.receive(), ProtocolError)

    # 6. an oversized frame announced by the peer -> FrameTooLarge (or a break)
    async with kit.pair() as (client, accepted):
        server = await accepted.receive()
        try:
            await client.send_raw(oversized)
        except TransportError:
            pass
        await _expect(server.receive(), FrameTooLarge, TransportBroken)

    # 7. a frame cut short by the peer going away -> TransportBroken
    async with kit.pair() as (client, accepted):
        server = await accepted.receive()
        await client.send_raw(half)
        await client.aclose()
        await _expect(server.receive(), *cut_kinds)


async def _check_many_channels(kit: _Kit, concurrent: int) -> None:
    # 8. many channels open at once (the server sees them all together), each
    #    with its own interleaved traffic
    active = 0
    peak = 0
    all_open = trio.Event()

    async def counting_echo(ch: Channel) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        if active == concurrent:
            all_open.set()
        try:
            await _echo(ch)
        finally:
            active -= 1

    async def one(bound: str, i: int, opened: Callable[[], None]) -> None:
        ch = await kit.connect(bound)
        async with ch:
            await ch.send(Ping(seq=i * 1000))
            assert await ch.receive() == Ping(seq=i * 1000)
            opened()
            await all_open.wait()
            for j in range(1, 11):
                await ch.send(Ping(seq=i * 1000 + j))
                got = await ch.receive()
                assert got == Ping(seq=i * 1000 + j), got

    async with trio.open_nursery() as n:
        bound = await kit.serve(n, counting_echo)
        async with trio.open_nursery() as inner:
            for i in range(concurrent):
                inner.start_soon(one, bound, i, lambda: None)
        n.cancel_scope.cancel()
    assert peak == concurrent, f"server saw at most {peak} of {concurrent} channels at once"


async def _check_close_vs_broken(kit: _Kit, broken_within: float) -> None:
    # 9a. the client closes cleanly -> the server gets the last message, then ChannelClosed
    async with kit.pair() as (client, accepted):
        server = await accepted.receive()
        await client.send(Ping(seq=5))
        await client.aclose()
        assert await _within(server.receive()) == Ping(seq=5)
        await _expect(server.receive(), ChannelClosed)

    # 9b. the client aborts (a crash) -> the server sees TransportBroken, not a close
    async with kit.pair() as (client, accepted):
        server = await accepted.receive()
        await client.send(Ping(seq=6))
        assert await _within(server.receive()) == Ping(seq=6)
        await client.abort()
        await _expect(server.receive(), TransportBroken, within=broken_within)
        await _expect(client.send(Ping(seq=1)), ClosedByYou)

    # 9c. the server aborts -> the client sees TransportBroken
    async with kit.pair() as (client, accepted):
        server = await accepted.receive()
        await client.send(Ping(seq=7))
        assert await _within(server.receive()) == Ping(seq=7)
        await server.abort()
        await _expect(client.receive(), TransportBroken, within=broken_within)

    # 9d. a task blocked in receive when its own side closes -> ClosedByYou, no hang
    async with kit.pair() as (client, accepted):
        await accepted.receive()
        outcome: list[BaseException] = []

        async def blocked() -> None:
            try:
                await client.receive()
            except TransportError as exc:
                outcome.append(exc)

        async with trio.open_nursery() as n:
            n.start_soon(blocked)
            await trio.sleep(0.05)
            with trio.fail_after(10):
                await client.aclose()
        assert len(outcome) == 1 and isinstance(outcome[0], ClosedByYou), outcome


async def _check_server_survives(kit: _Kit, garbage: bytes) -> None:
    # 10. garbage, aborts and crashing handlers do not stop the server
    async def fragile(ch: Channel) -> None:
        async for msg in ch:
            if isinstance(msg, Ping) and msg.seq < 0:
                raise RuntimeError("handler bug (expected by the conformance kit)")
            await ch.send(msg)

    async with trio.open_nursery() as n:
        bound = await kit.serve(n, fragile)
        bad = await kit.connect(bound)
        await bad.send_raw(garbage)
        await bad.abort()
        crasher = await kit.connect(bound)
        await crasher.send(Ping(seq=-1))
        await _expect(crasher.receive(), ChannelClosed, TransportBroken)
        await crasher.aclose()
        good = await kit.connect(bound)
        async with good:
            await good.send(Ping(seq=11))
            assert await _within(good.receive()) == Ping(seq=11)
        n.cancel_scope.cancel()


async def _check_substreams(kit: _Kit) -> None:
    # 11. sub-streams: independent flow, a stalled one never blocks control
    async def stream_echo(ch: Channel) -> None:
        assert isinstance(ch, MultiStreamChannel)
        async with trio.open_nursery() as n:
            n.start_soon(_echo, ch)
            while True:
                try:
                    sub = await ch.accept_stream()
                except TransportError:
                    return
                n.start_soon(_echo_then_close, sub)

    async with kit.pair(stream_echo) as (client, _accepted):
        if not isinstance(client, MultiStreamChannel):
            return
        sub = await client.open_stream()
        payload = bytes(range(256)) * ((SMALL_MAX_FRAME - 1024) // 256)
        await sub.send(StreamData(stream_id=2, data=payload))
        await client.send(Ping(seq=1))
        assert await _within(client.receive()) == Ping(seq=1)
        back = await _within(sub.receive())
        assert isinstance(back, StreamData) and back.data == payload
        await sub.aclose()
        await _expect(sub.receive(), ClosedByYou)

    # a reader that stops reading a sub-stream stalls only that sub-stream
    async with kit.pair() as (client, accepted):
        if not isinstance(client, MultiStreamChannel):
            return
        server = await accepted.receive()
        assert isinstance(server, MultiStreamChannel)
        sub = await client.open_stream()
        await sub.send(Ping(seq=0))
        server_sub = await _within(server.accept_stream())
        assert await _within(server_sub.receive()) == Ping(seq=0)
        chunk = b"f" * (SMALL_MAX_FRAME - 1024)
        total = 16  # 4 MB: far more than any sane flow-control window
        sent = 0

        async def pump() -> None:
            nonlocal sent
            for i in range(total):
                await sub.send(StreamData(stream_id=3, seq=i, data=chunk))
                sent += 1

        async with trio.open_nursery() as n:
            n.start_soon(pump)
            await _wait_stalled(lambda: sent, total)
            assert sent < total, "a sub-stream nobody reads never pushed back on its sender"
            for i in range(20):  # control traffic flows while the sub-stream is stalled
                await client.send(Ping(seq=i))
                assert await _within(server.receive()) == Ping(seq=i)
                await server.send(Pong(seq=i))
                assert await _within(client.receive()) == Pong(seq=i)
            assert sent < total
            for i in range(total):  # the stalled data is all there, in order
                got = await _within(server_sub.receive())
                assert isinstance(got, StreamData) and got.seq == i, got
        # the server opens one too, and closing it is a clean end
        mine = await server.open_stream()
        await mine.send(Pong(seq=99))
        theirs = await _within(client.accept_stream())
        assert await _within(theirs.receive()) == Pong(seq=99)
        await mine.aclose()
        await _expect(theirs.receive(), ChannelClosed)
        # an aborted sub-stream is a break for that sub-stream only
        await sub.abort()
        await _expect(server_sub.receive(), TransportBroken)
        await client.send(Ping(seq=100))
        assert await _within(server.receive()) == Ping(seq=100)


async def _wait_stalled(progress: Callable[[], int], total: int) -> None:
    """Return once ``progress()`` reached ``total`` or stopped moving for a while."""
    with trio.move_on_after(20):
        last = -1
        while progress() < total and progress() != last:
            last = progress()
            await trio.sleep(0.3)


async def _echo_then_close(ch: Channel) -> None:
    try:
        await _echo(ch)
    except TransportError:
        pass
    finally:
        await ch.aclose()


async def _within(aw: Awaitable[Any], seconds: float = 10) -> Any:
    with trio.fail_after(seconds):
        return await aw


async def _expect(aw: Awaitable[object], *kinds: type[BaseException], within: float = 10) -> None:
    try:
        with trio.fail_after(within):
            result = await aw
    except kinds:
        return
    except trio.TooSlowError:
        raise AssertionError(
            f"expected {[k.__name__ for k in kinds]} within {within}s, but the call hung"
        ) from None
    raise AssertionError(f"expected {[k.__name__ for k in kinds]}, got {result!r}")


__all__ = ["SMALL_MAX_FRAME", "Message", "check_transport"]
