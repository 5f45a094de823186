"""A newer peer's unknown message type is skipped, never fatal to the channel."""

from __future__ import annotations

import msgspec
import pytest
import trio

from transports import Ping, ProtocolError, UnknownMessage, decode, get_carrier


def test_decode_distinguishes_unknown_from_invalid():
    with pytest.raises(UnknownMessage) as info:
        decode(msgspec.msgpack.encode({"t": "from_the_future", "x": 1}))
    assert info.value.tag == "from_the_future" and info.value.code.value == "P003"
    with pytest.raises(ProtocolError) as info2:
        decode(msgspec.msgpack.encode({"t": "ping", "seq": "not-an-int"}))
    assert not isinstance(info2.value, UnknownMessage)


async def test_iteration_skips_unknown_messages():
    carrier = get_carrier("tcp")
    got: list[object] = []

    async def handler(ch):
        async for msg in ch:
            got.append(msg)

    async with trio.open_nursery() as nursery:
        url = await nursery.start(lambda task_status: carrier.serve("tcp://127.0.0.1:0", handler, task_status=task_status))
        ch = await carrier.connect(url)
        body = msgspec.msgpack.encode({"t": "from_the_future", "x": 1})
        await ch.send_raw(len(body).to_bytes(4, "big") + body)
        await ch.send(Ping(seq=5))
        await ch.aclose()
        with trio.fail_after(5):
            while not got:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert got == [Ping(seq=5)]
