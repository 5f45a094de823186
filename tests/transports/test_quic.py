"""QUIC carrier specifics: TLS inputs, ALPN, keep-alive, address change,
hostile datagrams, shutdown."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trustme

import transports._quic_tls as quic_tls
from transports import (
    Channel,
    ChannelClosed,
    ConnectFailed,
    MultiStreamChannel,
    Ping,
    Pong,
    TransportBroken,
    client_context,
)
from transports._quic import QuicCarrier


async def _echo(ch: Channel) -> None:
    async for msg in ch:
        await ch.send(msg)


@asynccontextmanager
async def serving(carrier: QuicCarrier, url: str = "quic://127.0.0.1:0", handler: Any = _echo, **kwargs: Any) -> AsyncIterator[str]:
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(
            lambda task_status: carrier.serve(url, handler, task_status=task_status, **kwargs)
        )
        yield bound
        nursery.cancel_scope.cancel()


async def _round_trip(ch: Channel, seq: int) -> None:
    with trio.fail_after(10):
        await ch.send(Ping(seq=seq))
        assert await ch.receive() == Ping(seq=seq)


async def test_tls_from_files_over_ipv6(tls: Any) -> None:
    carrier = QuicCarrier()
    async with serving(carrier, "quic://[::1]:0", cert_file=str(tls.cert_file), key_file=str(tls.key_file)) as url:
        assert url.startswith("quic://[::1]:")
        ch = await carrier.connect(url, ca_file=str(tls.ca_file), server_hostname="localhost")
        async with ch:
            assert isinstance(ch, MultiStreamChannel)
            await _round_trip(ch, 1)


async def test_tls_from_contexts_verifies_the_server(tls: Any, tmp_path: Any) -> None:
    carrier = QuicCarrier(handshake_timeout=5)
    async with serving(carrier, ssl_context=tls.server) as url:
        async with await carrier.connect(url, ssl_context=tls.client) as ch:
            await _round_trip(ch, 1)
        # a client that trusts another CA refuses the server
        other = trustme.CA()
        other.cert_pem.write_to_path(str(tmp_path / "other.pem"))
        with pytest.raises(ConnectFailed):
            await carrier.connect(url, ssl_context=client_context(tmp_path / "other.pem"))
        # ... and so does one that checks a name the certificate does not have
        with pytest.raises(ConnectFailed):
            await carrier.connect(url, ssl_context=tls.client, server_hostname="elsewhere.example")


async def test_server_context_without_files_is_refused_clearly(tls: Any) -> None:
    bare = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    bare.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    with pytest.raises(ConnectFailed, match="server_context"):
        await QuicCarrier().serve("quic://127.0.0.1:0", _echo, ssl_context=bare)
    with pytest.raises(ConnectFailed, match="cannot load"):
        await QuicCarrier().serve("quic://127.0.0.1:0", _echo, cert_file="/nonexistent.pem", key_file="/nonexistent.key")


async def test_wrong_alpn_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    carrier = QuicCarrier(handshake_timeout=5)
    async with serving(carrier) as url:
        monkeypatch.setattr(quic_tls, "ALPN", "h3")  # the client now offers only HTTP/3
        with pytest.raises(ConnectFailed):
            await carrier.connect(url)
        monkeypatch.undo()
        async with await carrier.connect(url) as ch:
            await _round_trip(ch, 1)


async def test_nothing_listening_fails_to_connect() -> None:
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # the port is now closed: the kernel answers ICMP port unreachable
    with trio.fail_after(15), pytest.raises(ConnectFailed):
        await QuicCarrier(handshake_timeout=10).connect(f"quic://127.0.0.1:{port}")


async def test_keep_alive_holds_an_idle_connection() -> None:
    carrier = QuicCarrier(idle_timeout=1.0)
    async with serving(carrier) as url:
        async with await carrier.connect(url) as ch:
            await _round_trip(ch, 1)
            await trio.sleep(3.0)  # three idle timeouts without a message
            await _round_trip(ch, 2)


class _Nat:
    """A UDP relay in front of the server that can change its outside port,
    as a NAT does when its mapping is renewed."""

    def __init__(self, server: tuple[str, int]) -> None:
        self.server = server
        self.inside = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        self.outside: trio.socket.SocketType | None = None
        self.client: Any = None
        self.ports: list[int] = []

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        await self.inside.bind(("127.0.0.1", 0))
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            await self.rebind()
            task_status.started(self.inside.getsockname())
            while True:
                data, addr = await self.inside.recvfrom(65536)
                self.client = addr
                assert self.outside is not None
                await self.outside.sendto(data, self.server)

    async def rebind(self) -> None:
        old = self.outside
        new = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        await new.bind(("127.0.0.1", 0))
        self.ports.append(new.getsockname()[1])
        self.outside = new
        self.nursery.start_soon(self._back, new)
        if old is not None:
            old.close()

    async def _back(self, sock: trio.socket.SocketType) -> None:
        try:
            while True:
                data, _ = await sock.recvfrom(65536)
                await self.inside.sendto(data, self.client)
        except (OSError, trio.ClosedResourceError):
            return  # closed by rebind


async def test_connection_survives_a_client_address_change() -> None:
    carrier = QuicCarrier()
    accepted: list[Channel] = []

    async def handler(ch: Channel) -> None:
        accepted.append(ch)
        await _echo(ch)

    async with serving(carrier, handler=handler) as url:
        host, port = url.removeprefix("quic://").rsplit(":", 1)
        nat = _Nat((host, int(port)))
        async with trio.open_nursery() as nursery:
            inside = await nursery.start(nat.run)
            async with await carrier.connect(f"quic://{inside[0]}:{inside[1]}") as ch:
                for i in range(5):
                    await _round_trip(ch, i)
                assert accepted[0].peer.endswith(f":{nat.ports[0]}")
                await nat.rebind()  # from now on the server sees another address
                for i in range(5, 50):
                    await _round_trip(ch, i)
                assert accepted[0].peer.endswith(f":{nat.ports[1]}"), (accepted[0].peer, nat.ports)
            nursery.cancel_scope.cancel()


async def test_hostile_datagrams_do_not_stop_the_server() -> None:
    carrier = QuicCarrier()
    async with serving(carrier) as url:
        host, port = url.removeprefix("quic://").rsplit(":", 1)
        junk = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        with junk:
            for blob in (
                b"",
                b"\x00",
                os.urandom(40),
                b"\x40" + os.urandom(30),  # a short header with an unknown connection id
                b"\xc0\x00\x00\x00\x01" + os.urandom(1300),  # an Initial that is all noise
                b"\xc0\xfa\xce\xb0\x0c\x08" + os.urandom(1300),  # an unknown version
                os.urandom(1400),
            ):
                await junk.sendto(blob, (host, int(port)))
        async with await carrier.connect(url) as ch:
            await _round_trip(ch, 1)


async def test_server_shutdown_closes_its_channels() -> None:
    carrier = QuicCarrier(idle_timeout=30)
    async with trio.open_nursery() as outer:
        serve_scope = trio.CancelScope()

        async def run_server(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            with serve_scope:
                await carrier.serve("quic://127.0.0.1:0", _echo, task_status=task_status)

        url = await outer.start(run_server)
        ch = await carrier.connect(url)
        await _round_trip(ch, 1)
        serve_scope.cancel()
        # told at once, not after the 30 s idle timeout
        with trio.fail_after(5), pytest.raises((ChannelClosed, TransportBroken)):
            await ch.receive()
        await ch.aclose()


async def test_substreams_both_ways_and_many() -> None:
    carrier = QuicCarrier()

    async def handler(ch: Channel) -> None:
        assert isinstance(ch, MultiStreamChannel)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_echo, ch)
            while True:
                sub = await ch.accept_stream()
                nursery.start_soon(_echo, sub)

    async with serving(carrier, handler=handler) as url:
        async with await carrier.connect(url) as ch:
            assert isinstance(ch, MultiStreamChannel)
            subs = [await ch.open_stream() for _ in range(20)]
            async with trio.open_nursery() as nursery:
                for n, sub in enumerate(subs):
                    nursery.start_soon(_round_trip, sub, n)
            await _round_trip(ch, 99)
            for sub in subs:
                await sub.aclose()
            await ch.send(Pong(seq=1))
            assert await ch.receive() == Pong(seq=1)
