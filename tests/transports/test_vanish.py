"""A peer killed with SIGKILL is a break, never a clean close, on every carrier.

The client runs in a real subprocess that is killed mid-session: its kernel
closes its sockets (TCP: a FIN, exactly like a clean close at the socket
level), its QUIC connection falls silent, its long poll hangs up. The server
must report :class:`TransportBroken` each time.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

import pytest
import trio

from transports import Channel, Ping, TransportBroken, get_carrier
from transports._http import HttpCarrier
from transports._quic import QuicCarrier

CLIENT = r"""
import sys, trio
from transports import Ping, get_carrier
from transports._http import HttpCarrier
from transports._quic import QuicCarrier

async def main():
    url = sys.argv[1]
    carrier = {"quic": QuicCarrier(idle_timeout=1.5), "http": HttpCarrier()}.get(url.split(":")[0]) or get_carrier(url)
    ch = await carrier.connect(url)
    await ch.send(Ping(seq=1))
    print("ready", flush=True)
    await trio.sleep_forever()

trio.run(main)
"""

SERVERS: dict[str, Any] = {
    "tcp": lambda: get_carrier("tcp"),
    "quic": lambda: QuicCarrier(idle_timeout=1.5),
    "http": lambda: HttpCarrier(poll_timeout=1.0, session_timeout=1.5),
}


@pytest.mark.parametrize("scheme", sorted(SERVERS))
async def test_killed_client_is_a_break(scheme: str) -> None:
    carrier = SERVERS[scheme]()
    channels: trio.MemorySendChannel[Channel]
    channels, accepted = trio.open_memory_channel[Channel](1)

    async def handler(ch: Channel) -> None:
        await channels.send(ch)
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        url = await nursery.start(
            lambda task_status: carrier.serve(f"{scheme}://127.0.0.1:0", handler, task_status=task_status)
        )
        proc = await trio.lowlevel.open_process(
            [sys.executable, "-c", CLIENT, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            assert proc.stdout is not None
            with trio.fail_after(20):
                server = await accepted.receive()
                assert await server.receive() == Ping(seq=1)
                line = await proc.stdout.receive_some(100)
                assert b"ready" in line, line
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            with trio.fail_after(15):
                with pytest.raises(TransportBroken):
                    await server.receive()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        nursery.cancel_scope.cancel()
