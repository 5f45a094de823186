"""Write coalescing on the stream carriers, measured on a real TCP socket.

Many tasks sending small messages on one channel at once must go out in far
fewer writes than messages: the channel counts its ``send_all`` calls, and the
kernel counts the data segments it sent (``TCP_INFO``'s ``tcpi_data_segs_out``),
so the claim is checked where it matters, below Python.
"""

from __future__ import annotations

import socket
import struct
import sys
from typing import Any

import pytest
import trio

from transports import Channel, Output, Ping, get_carrier
from transports._stream import StreamChannel, _find_socket

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="TCP_INFO's data segment counter is Linux's")

MESSAGES = 2000
SENDERS = 200

#: Offset of ``tcpi_data_segs_out`` in Linux's ``struct tcp_info`` (since 4.6).
_DATA_SEGS_OUT = 156


def data_segments_out(channel: Channel) -> int:
    sock = _find_socket(channel._stream)  # type: ignore[attr-defined]
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    return int(struct.unpack_from("I", info, _DATA_SEGS_OUT)[0])


async def _pair(tls: Any, use_tls: bool, nursery: trio.Nursery) -> tuple[StreamChannel, trio.MemoryReceiveChannel[Any]]:
    got_send, got_recv = trio.open_memory_channel[Any](MESSAGES + 10)

    async def handler(ch: Channel) -> None:
        async for msg in ch:
            await got_send.send(msg)

    carrier = get_carrier("tcp")
    bound = await nursery.start(
        lambda task_status: carrier.serve(
            "tcp://127.0.0.1:0", handler, ssl_context=tls.server if use_tls else None, task_status=task_status
        )
    )
    client = await carrier.connect(bound, ssl_context=tls.client if use_tls else None)
    assert isinstance(client, StreamChannel)
    return client, got_recv


@pytest.mark.parametrize("use_tls", [False, True], ids=["tcp", "tcp+tls"])
async def test_concurrent_small_sends_share_writes(tls: Any, use_tls: bool) -> None:
    async with trio.open_nursery() as nursery:
        client, received = await _pair(tls, use_tls, nursery)
        await client.send(Ping(seq=-1))  # the handshake's and the first frame's segments are not ours
        assert isinstance(await received.receive(), Ping)
        writes0, segs0 = client.writes, data_segments_out(client)

        async def sender(first: int) -> None:
            for seq in range(first, MESSAGES, SENDERS):
                await client.send(Output(task_id=f"t{seq}", seq=seq, data=b"x" * 32))

        async with trio.open_nursery() as senders:
            for first in range(SENDERS):
                senders.start_soon(sender, first)
        seqs = sorted([(await received.receive()).seq for _ in range(MESSAGES)])
        assert seqs == list(range(MESSAGES))  # every message arrived whole, once
        writes, segments = client.writes - writes0, data_segments_out(client) - segs0
        # One write per message would be 2,000 writes and about as many segments.
        assert writes <= MESSAGES // 10, writes
        assert 0 < segments <= MESSAGES // 10, segments
        await client.aclose()
        nursery.cancel_scope.cancel()


async def test_send_many_is_one_write(tls: Any) -> None:
    async with trio.open_nursery() as nursery:
        client, received = await _pair(tls, True, nursery)
        writes0 = client.writes
        await client.send_many([Ping(seq=i) for i in range(500)])
        assert client.writes - writes0 == 1  # 500 small frames fit one 64 KiB write
        assert [(await received.receive()).seq for _ in range(500)] == list(range(500))
        await client.aclose()
        nursery.cancel_scope.cancel()


async def test_cancelled_sender_withdraws_its_frame(tls: Any) -> None:
    """A send cancelled while it waits behind a blocked writer never goes out
    later, and the senders after it are unaffected."""
    async with trio.open_nursery() as nursery:
        client, received = await _pair(tls, False, nursery)
        release = trio.Event()

        async def writer_in_flight(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            async with client._send_lock:
                task_status.started()
                await release.wait()

        await nursery.start(writer_in_flight)
        with trio.move_on_after(0.05):
            await client.send(Ping(seq=1))
        assert client._pending == []
        nursery.start_soon(client.send, Ping(seq=2))
        await trio.sleep(0.05)
        release.set()
        assert (await received.receive()).seq == 2
        await client.aclose()
        nursery.cancel_scope.cancel()


async def test_writer_cancelled_mid_write_breaks_the_channel_for_the_senders_it_carried(tls: Any) -> None:
    """A writer cancelled inside its write may have sent part of a frame: the channel is
    broken, and a sender whose frame that write carried gets TransportBroken (it used to
    get an IndexError, or a success for a frame that never went out)."""
    from transports import TransportBroken

    async with trio.open_nursery() as nursery:
        client, _received = await _pair(tls, True, nursery)
        stalled = trio.Event()

        class Stalling:
            """The channel's stream, with writes that never finish (a peer that stopped reading)."""

            def __init__(self, inner: Any) -> None:
                self.inner = inner

            async def send_all(self, data: Any) -> None:
                stalled.set()
                await trio.sleep_forever()

            def __getattr__(self, name: str) -> Any:
                return getattr(self.inner, name)

        client._stream = Stalling(client._stream)  # type: ignore[assignment]
        scopes: dict[Any, trio.CancelScope] = {}
        outcome: dict[int, str] = {}

        async def sender(seq: int) -> None:
            with trio.CancelScope() as scope:
                scopes[trio.lowlevel.current_task()] = scope
                try:
                    await client.send(Ping(seq=seq))
                    outcome[seq] = "sent"
                except TransportBroken:
                    outcome[seq] = "TransportBroken"
            if scope.cancelled_caught:
                outcome[seq] = "cancelled"

        async with trio.open_nursery() as senders:
            senders.start_soon(sender, 1)
            senders.start_soon(sender, 2)  # whichever writes, the other's frame joins its write
            await stalled.wait()
            assert client._pending == []  # the stalled write carries both frames
            scopes[client._send_lock.statistics().owner].cancel()
        assert sorted(outcome.values()) == ["TransportBroken", "cancelled"], outcome
        with pytest.raises(TransportBroken):
            await client.send(Ping(seq=3))
        nursery.cancel_scope.cancel()
