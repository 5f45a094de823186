"""The TCP carrier's own TLS stream (``transports._tlsstream``), at the stream level.

The conformance kit drives it through channels (tcp-tls); these check what a
channel does not show: full duplex with large records both ways at once, a
torn write breaking the stream, a second sender refused, both kinds of peer close, a failed handshake's
reason, a TLS 1.2 peer, and a key update that a receive must answer (real
``openssl s_client``).
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from transports import ConnectFailed, client_context, get_carrier
from transports._tlsstream import TlsStream

from .conftest import TlsSet


@asynccontextmanager
async def _pair(tls: TlsSet, client_ctx: ssl.SSLContext | None = None) -> AsyncIterator[tuple[TlsStream, TlsStream]]:
    """A connected, handshaken (server, client) pair over loopback TCP."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        accepted: list[TlsStream] = []

        async def accept() -> None:
            tcp = await listeners[0].accept()
            server = TlsStream.over(tcp, tls.server, server_side=True)
            await server.do_handshake()
            accepted.append(server)

        nursery.start_soon(accept)
        tcp = await trio.open_tcp_stream("127.0.0.1", port)
        client = TlsStream.over(tcp, client_ctx or tls.client, server_side=False, server_hostname="127.0.0.1")
        await client.do_handshake()
    server = accepted[0]
    try:
        yield server, client
    finally:
        await server.aclose()
        await client.aclose()
        await listeners[0].aclose()


async def _receive_exactly(stream: TlsStream, size: int) -> bytes:
    got = bytearray()
    while len(got) < size:
        chunk = await stream.receive_some(65536)
        assert chunk, f"end of stream after {len(got)} of {size} bytes"
        got += chunk
    return bytes(got)


async def test_full_duplex_large_records(tls: TlsSet) -> None:
    """4 MiB each way at once, in uneven pieces: every byte arrives, in order."""
    size = 4 * 1024 * 1024
    up, down = os.urandom(size), os.urandom(size)
    async with _pair(tls) as (server, client):
        results: dict[str, bytes] = {}

        async def send(stream: TlsStream, data: bytes) -> None:
            view = memoryview(data)
            step = 1
            while view:
                await stream.send_all(view[:step])
                view = view[step:]
                step = min(step * 3 + 7, 300_000)

        async def receive(name: str, stream: TlsStream) -> None:
            results[name] = await _receive_exactly(stream, size)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send, client, up)
            nursery.start_soon(send, server, down)
            nursery.start_soon(receive, "server", server)
            nursery.start_soon(receive, "client", client)
    assert results["server"] == up
    assert results["client"] == down


async def test_cancelled_write_breaks_the_stream(tls: TlsSet) -> None:
    """A send cancelled with part of a record on the wire leaves a stream that
    refuses further sends (the peer would read a torn record)."""
    async with _pair(tls) as (server, client):
        with trio.move_on_after(0.3):
            await client.send_all(b"x" * (64 * 1024 * 1024))  # nobody reads: the socket fills
        with pytest.raises(trio.BrokenResourceError, match="interrupted"):
            await client.send_all(b"more")
        del server


async def test_a_second_sender_is_refused_not_interleaved(tls: TlsSet) -> None:
    """One sender at a time is the caller's rule (the channel's send lock): a second
    send while one waits for room is refused, and the first one's bytes arrive whole."""
    payload = os.urandom(8 * 1024 * 1024)
    async with _pair(tls) as (server, client):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.send_all, payload)
            await trio.sleep(0.2)  # nobody reads yet: the first send waits for room
            with pytest.raises(trio.BusyResourceError):
                await client.send_all(b"cut in")
            assert await _receive_exactly(server, len(payload)) == payload


async def test_peer_close_notify_and_bare_fin(tls: TlsSet) -> None:
    async with _pair(tls) as (server, client):
        await client.send_all(b"last words")
        await client.aclose()  # close_notify, then FIN
        assert await _receive_exactly(server, 10) == b"last words"
        assert await server.receive_some() == b""
    async with _pair(tls) as (server, client):
        client.socket.shutdown(2)  # a crashed peer: FIN, no close_notify
        assert await server.receive_some() == b""


async def test_receive_after_close_is_closed_resource(tls: TlsSet) -> None:
    async with _pair(tls) as (server, client):
        server.close_now()
        with pytest.raises(trio.ClosedResourceError):
            await server.receive_some()
        with pytest.raises(trio.ClosedResourceError):
            await server.send_all(b"x")
        del client


async def test_close_wakes_a_waiting_receive(tls: TlsSet) -> None:
    async with _pair(tls) as (server, client):
        async with trio.open_nursery() as nursery:
            failed: list[BaseException] = []

            async def wait() -> None:
                try:
                    await server.receive_some()
                except trio.ClosedResourceError as exc:
                    failed.append(exc)

            nursery.start_soon(wait)
            await trio.testing.wait_all_tasks_blocked()
            await server.aclose()
        assert failed
        del client


async def test_untrusted_server_names_the_reason(tls: TlsSet) -> None:
    async def handler(channel: Any) -> None:
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        url = await nursery.start(lambda task_status: get_carrier("tcp").serve("tcp://127.0.0.1:0", handler, ssl_context=tls.server, task_status=task_status))
        stranger = client_context()  # the system store: does not know the test CA
        with pytest.raises(ConnectFailed, match="CERTIFICATE_VERIFY_FAILED"):
            await get_carrier("tcp").connect(url, ssl_context=stranger, server_hostname="127.0.0.1")
        nursery.cancel_scope.cancel()


async def test_a_server_of_another_name_is_refused(tls: TlsSet) -> None:
    """The name checked is the one asked for (given to the stream as ASCII bytes): the
    certificate is for 127.0.0.1, localhost and ::1, so another name is refused."""

    async def handler(channel: Any) -> None:
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        url = await nursery.start(lambda task_status: get_carrier("tcp").serve("tcp://127.0.0.1:0", handler, ssl_context=tls.server, task_status=task_status))
        channel = await get_carrier("tcp").connect(url, ssl_context=tls.client, server_hostname="localhost")
        await channel.aclose()
        with pytest.raises(ConnectFailed, match="CERTIFICATE_VERIFY_FAILED"):
            await get_carrier("tcp").connect(url, ssl_context=tls.client, server_hostname="example.com")
        nursery.cancel_scope.cancel()


async def test_tls12_peer(tls: TlsSet) -> None:
    client = client_context(tls.ca_file)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    async with _pair(tls, client) as (server, client_stream):
        await client_stream.send_all(b"ping")
        assert await _receive_exactly(server, 4) == b"ping"
        await server.send_all(b"pong")
        assert await _receive_exactly(client_stream, 4) == b"pong"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command to send a TLS 1.3 key update")
async def test_key_update_is_answered(tls: TlsSet) -> None:
    """``openssl s_client`` asks for a key update ("K" on its input: a KeyUpdate
    with update_requested); data keeps flowing both ways under the new keys,
    the server's answer included."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(tls.ca_file), "-tls1_3", "-verify_return_error"]
    proc = await trio.lowlevel.open_process(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdin is not None and proc.stdout is not None
    out = bytearray()

    async def read_until(marker: bytes) -> None:
        assert proc.stdout is not None
        while marker not in out:
            chunk = await proc.stdout.receive_some(65536)
            assert chunk, f"s_client ended before {marker!r}: {bytes(out)[-2000:]!r}"
            out.extend(chunk)

    try:
        with trio.fail_after(20):
            tcp = await listeners[0].accept()
            server = TlsStream.over(tcp, tls.server, server_side=True)
            await server.do_handshake()
            await proc.stdin.send_all(b"first\n")
            assert await _receive_exactly(server, 6) == b"first\n"
            await server.send_all(b"echo:first\n")
            await read_until(b"echo:first")
            await proc.stdin.send_all(b"K\n")  # s_client: KeyUpdate, update_requested
            await read_until(b"KEYUPDATE")
            await proc.stdin.send_all(b"second\n")
            # The key update arrives before "second": this receive reads it and answers.
            assert await _receive_exactly(server, 7) == b"second\n"
            await server.send_all(b"echo:second\n")
            await read_until(b"echo:second")
            await server.aclose()
    finally:
        await proc.stdin.aclose()
        with trio.move_on_after(5):
            await proc.wait()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await listeners[0].aclose()
