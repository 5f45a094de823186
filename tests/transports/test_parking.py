"""The parking lot: quiet server channels held by one task, on real TCP (+TLS) sockets.

A handler reads what is there (``receive_nowait``), parks its channel and returns;
the lot runs the handler again when the peer speaks, closes, or resets, or when the
server closes the channel itself. Nothing is lost, nothing runs without a task when
it must, and the connection keeps its place in the gate's counts until it ends.
"""

from __future__ import annotations

import socket
import struct
import sys
from typing import Any

import pytest
import trio

from transports import (
    Channel,
    ChannelClosed,
    ConnLimits,
    Parking,
    Ping,
    Pong,
    TransportBroken,
    get_carrier,
)
from transports._codec import frame
from transports._stream import _find_socket

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the lot waits with epoll (Linux)")


class EchoServer:
    """Pongs every ping; parks between messages. Counts handler runs and what it saw."""

    def __init__(self, lot: Parking, *, login: bool = True) -> None:
        self.lot = lot
        self.login = login
        self.runs = 0
        self.seen: list[int] = []
        self.ended: list[str] = []  # how each session ended
        self.channels: list[Channel] = []
        self.parked_at_return: list[bool] = []

    async def handler(self, channel: Channel) -> None:
        if self.login:
            channel.mark_authenticated()
        self.channels.append(channel)
        await self.serve(channel)

    async def serve(self, channel: Channel) -> None:
        self.runs += 1
        try:
            while True:
                try:
                    msg = channel.receive_nowait()
                except trio.WouldBlock:
                    if self.lot.park(channel, self.serve):
                        self.parked_at_return.append(True)
                        return
                    self.parked_at_return.append(False)
                    msg = await channel.receive()
                assert isinstance(msg, Ping)
                self.seen.append(msg.seq)
                await channel.send(Pong(seq=msg.seq))
        except ChannelClosed:
            self.ended.append("goodbye")
        except TransportBroken as exc:
            self.ended.append(f"broken: {exc}")
            raise
        except Exception as exc:
            self.ended.append(type(exc).__name__)
            raise


async def _serve(nursery: trio.Nursery, tls: Any, server: EchoServer, *, use_tls: bool = True, limits: Any = None) -> str:
    await nursery.start(server.lot.run)
    return await nursery.start(
        lambda task_status: get_carrier("tcp").serve(
            "tcp://127.0.0.1:0", server.handler, ssl_context=tls.server if use_tls else None,
            limits=limits, task_status=task_status,
        )
    )


async def _wait_for(predicate: Any, what: str) -> None:
    with trio.move_on_after(5):
        while not predicate():
            await trio.sleep(0.005)
    assert predicate(), what


async def _parked_client(url: str, tls: Any, lot: Parking, parked: int = 1) -> Channel:
    """A client that said one ping and heard its pong; its connection parked (``parked`` in all)."""
    client = await get_carrier("tcp").connect(url, ssl_context=tls.client)
    await client.send(Ping(seq=1))
    assert (await client.receive()).seq == 1
    await _wait_for(lambda: len(lot) == parked, "parked")
    return client


async def test_a_quiet_channel_waits_in_the_lot_and_wakes_for_each_message(tls: Any) -> None:
    lot = Parking()
    server = EchoServer(lot)
    async with trio.open_nursery() as nursery:
        url = await _serve(nursery, tls, server)
        client = await _parked_client(url, tls, lot)
        # No task of the server holds the connection: its handler returned, parked.
        assert server.parked_at_return[-1] is True
        for seq in range(2, 6):
            await client.send(Ping(seq=seq))
            assert (await client.receive()).seq == seq
        await _wait_for(lambda: len(lot) == 1 and lot.resumed >= 4, "parked again after each message")
        assert server.seen == [1, 2, 3, 4, 5]
        await client.aclose()
        await _wait_for(lambda: server.ended == ["goodbye"] and len(lot) == 0, "the peer's goodbye ends the session")
        nursery.cancel_scope.cancel()


async def test_a_frame_split_across_wakeups_arrives_whole(tls: Any) -> None:
    """Half a frame, park, the rest later: the channel keeps the half; one whole message."""
    lot = Parking()
    server = EchoServer(lot)
    async with trio.open_nursery() as nursery:
        url = await _serve(nursery, tls, server)
        client = await _parked_client(url, tls, lot)
        woken = lot.resumed
        data = frame(Ping(seq=2))
        await client.send_raw(data[:5])
        await _wait_for(lambda: lot.resumed == woken + 1 and len(lot) == 1, "woken by half a frame, parked again")
        assert server.seen == [1]
        await client.send_raw(data[5:])
        assert (await client.receive()).seq == 2
        assert server.seen == [1, 2]
        await client.aclose()
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("how", ["close", "abort"])
async def test_the_server_closing_a_parked_channel_ends_its_session(tls: Any, how: str) -> None:
    """Closed by another task of the server (a second login, a drain): the lot runs the
    handler, which finds the channel closed; the peer is told as the close says."""
    lot = Parking()
    server = EchoServer(lot)
    async with trio.open_nursery() as nursery:
        url = await _serve(nursery, tls, server)
        client = await _parked_client(url, tls, lot)
        channel = server.channels[0]
        await (channel.aclose() if how == "close" else channel.abort())
        assert len(lot) == 0
        await _wait_for(lambda: server.ended == ["ClosedByYou"], "the handler ran and saw its own close")
        expected = ChannelClosed if how == "close" else TransportBroken
        with pytest.raises(expected), trio.fail_after(5):
            await client.receive()
        nursery.cancel_scope.cancel()


async def test_a_peer_that_vanishes_while_parked_ends_its_session_and_frees_its_place(tls: Any) -> None:
    """A reset while parked: the handler runs, the channel is broken, and the gate
    counts the connection until then and not after."""
    lot = Parking()
    server = EchoServer(lot)
    async with trio.open_nursery() as nursery:
        await nursery.start(lot.run)
        from transports import ConnGate

        gate = ConnGate(ConnLimits(), "test")
        url = await nursery.start(
            lambda task_status: get_carrier("tcp").serve(
                "tcp://127.0.0.1:0", server.handler, ssl_context=tls.server, limits=gate, task_status=task_status))
        client = await _parked_client(url, tls, lot)
        assert gate.statistics()["connections"] == 1  # still counted while parked
        assert gate.statistics()["preauth"] == 0
        sock = _find_socket(client._stream)  # type: ignore[attr-defined]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await client.abort()
        await _wait_for(lambda: len(server.ended) == 1, "the handler ran")
        assert server.ended[0].startswith("broken")
        await _wait_for(lambda: gate.statistics()["connections"] == 0, "its place in the gate is free")
        assert len(lot) == 0
        nursery.cancel_scope.cancel()


async def test_stopping_the_lot_says_goodbye_to_every_parked_channel(tls: Any) -> None:
    lot = Parking()
    server = EchoServer(lot)
    clients = []
    async with trio.open_nursery() as nursery:
        lot_scope = trio.CancelScope()

        async def run_lot(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            with lot_scope:
                await lot.run(task_status=task_status)

        await nursery.start(run_lot)
        url = await nursery.start(
            lambda task_status: get_carrier("tcp").serve(
                "tcp://127.0.0.1:0", server.handler, ssl_context=tls.server, task_status=task_status))
        for parked in range(1, 4):
            clients.append(await _parked_client(url, tls, lot, parked))
        lot_scope.cancel()
        for client in clients:
            with pytest.raises(ChannelClosed), trio.fail_after(5):
                await client.receive()
        assert len(lot) == 0
        nursery.cancel_scope.cancel()


async def test_what_cannot_park_keeps_its_task(tls: Any) -> None:
    """Plain TCP (no read without waiting here), a peer not logged in yet, a lot that is
    not running: ``park`` says no and holds nothing; the handler waits itself."""
    for use_tls, login, running in ((False, True, True), (True, False, True), (True, True, False)):
        lot = Parking()
        server = EchoServer(lot, login=login)
        async with trio.open_nursery() as nursery:
            if running:
                await nursery.start(lot.run)
            limits = None if login else ConnLimits()
            url = await nursery.start(
                lambda task_status, lim=limits, t=use_tls, h=server.handler: get_carrier("tcp").serve(
                    "tcp://127.0.0.1:0", h, ssl_context=tls.server if t else None,
                    limits=lim, task_status=task_status))
            client = await get_carrier("tcp").connect(url, ssl_context=tls.client if use_tls else None)
            for seq in range(3):
                await client.send(Ping(seq=seq))
                assert (await client.receive()).seq == seq
            assert len(lot) == 0 and lot.resumed == 0
            assert server.parked_at_return and not any(server.parked_at_return)  # asked, and refused each time
            assert server.runs == 1
            await client.aclose()
            ended = server.ended
            await _wait_for(lambda: ended == ["goodbye"], "ended")  # noqa: B023 - awaited here, in this pass
            nursery.cancel_scope.cancel()
