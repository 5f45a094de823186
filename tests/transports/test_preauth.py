"""Bounds before login, on every carrier's server side: small frames and a
deadline until the handler calls ``mark_authenticated``, connection caps per
source address and in total, an incremental frame reader, and the ``hello``
checks (version, silence) shared by the proxy and the center."""

from __future__ import annotations

import logging
import random
import socket
import struct
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

import transports._login
from transports import (
    Channel,
    ConnGate,
    ConnLimits,
    ErrorMsg,
    FrameReader,
    FrameTooLarge,
    Hello,
    TransportError,
    Welcome,
    encode,
    get_carrier,
    receive_hello,
)
from transports._guard import _RateLog

SMALL = 4096
BIG = 200_000  # over SMALL, well under the 16 MiB after login


async def login_then_echo(ch: Channel) -> None:
    """A server handler: a hello with credential ``ok`` logs in, then echo."""
    hello = await ch.receive()
    if not isinstance(hello, Hello) or hello.credential != b"ok":
        await ch.send(ErrorMsg(code="P005", message="no"))
        return
    ch.mark_authenticated()
    await ch.send(Welcome(session="s1"))
    async for msg in ch:
        await ch.send(msg)


@asynccontextmanager
async def serving(scheme: str, tls: Any, limits: ConnLimits | ConnGate, handler: Any = login_then_echo) -> AsyncIterator[tuple[str, Any]]:
    url = {"tcp": "tcp://127.0.0.1:0", "tls": "tcp://127.0.0.1:0", "quic": "quic://127.0.0.1:0", "https": "https://127.0.0.1:0/starling"}[scheme]
    ctx = None if scheme == "tcp" else tls.server
    carrier = get_carrier(url)
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(
            lambda task_status: carrier.serve(url, handler, ssl_context=ctx, limits=limits, task_status=task_status)
        )
        yield bound, (None if scheme == "tcp" else tls.client)
        nursery.cancel_scope.cancel()


# --- the frame reader -------------------------------------------------------------------


def test_frame_reader_splits_any_way_the_bytes_arrive() -> None:
    rng = random.Random(7)
    bodies = [rng.randbytes(rng.choice([1, 3, 4, 5, 100, 70_000])) for _ in range(40)]
    wire = b"".join(struct.pack(">I", len(b)) + b for b in bodies)
    for _ in range(20):
        reader, got, pos = FrameReader(1 << 20), [], 0
        while pos < len(wire):
            step = rng.choice([1, 2, 3, 7, 4096, 100_000])
            got.extend(reader.feed(wire[pos : pos + step]))
            pos += step
        assert got == bodies and reader.pending == 0


def test_frame_reader_holds_only_what_arrived() -> None:
    reader = FrameReader()  # 16 MiB
    tracemalloc.start()
    try:
        assert reader.feed(struct.pack(">I", 16 * 1024 * 1024 - 1) + b"x" * 1000) == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reader.pending == 1000
    assert peak < 64 * 1024, f"a 16 MiB announcement allocated {peak} bytes"


def test_frame_reader_limit_can_change_between_feeds() -> None:
    reader = FrameReader(1 << 20)
    reader.max_frame = SMALL
    with pytest.raises(FrameTooLarge):
        reader.feed(struct.pack(">I", SMALL + 1))
    reader = FrameReader(1 << 20)
    reader.max_frame = SMALL
    assert reader.feed(struct.pack(">I", 3) + b"abc") == [b"abc"]
    reader.max_frame = 1 << 20
    body = b"y" * BIG
    assert reader.feed(struct.pack(">I", BIG) + body) == [body]


# --- frames and deadline before login, per carrier ---------------------------------------


@pytest.mark.parametrize("scheme", ["tcp", "tls", "quic", "https"])
async def test_small_frames_until_login(scheme: str, tls: Any) -> None:
    limits = ConnLimits(preauth_frame=SMALL, preauth_deadline=20)
    async with serving(scheme, tls, limits) as (url, ctx):
        carrier = get_carrier(url)
        # A big hello is refused before login: the server drops the connection.
        with trio.fail_after(20):
            ch = await carrier.connect(url, ssl_context=ctx)
            with pytest.raises(TransportError):
                await ch.send(Hello(role="agent", node_id="a", credential=b"x" * BIG))
                await ch.receive()
            await ch.aclose()
        # After login the same size passes.
        with trio.fail_after(20):
            ch = await carrier.connect(url, ssl_context=ctx)
            async with ch:
                await ch.send(Hello(role="agent", node_id="a", credential=b"ok"))
                assert isinstance(await ch.receive(), Welcome)
                big = Hello(role="agent", node_id="b", credential=b"z" * BIG)
                await ch.send(big)
                assert await ch.receive() == big


@pytest.mark.parametrize("scheme", ["tls", "quic", "https"])
async def test_login_deadline(scheme: str, tls: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    gate = ConnGate(ConnLimits(preauth_deadline=0.5), "test")
    async with serving(scheme, tls, gate) as (url, ctx):
        with trio.fail_after(20):
            ch = await get_carrier(url).connect(url, ssl_context=ctx)
            with pytest.raises(TransportError):
                await ch.receive()  # says nothing, and is closed
            await ch.aclose()
        with trio.fail_after(10):
            while gate.preauth:
                await trio.sleep(0.05)
    assert gate.timeouts == 1
    lines = [r for r in caplog.records if "no login within" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO and lines[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


class _ResetAtConnect:
    """A connection the server refused (reset) before this side's ``connect`` returned:
    the kernel completes the TCP handshake before the server accepts, and a refusal
    can come back faster than the client looks at its socket."""

    async def receive_some(self, _max: int) -> bytes:
        raise trio.BrokenResourceError("reset while connecting")

    async def aclose(self) -> None:
        pass


async def _raw(source: str, port: int) -> Any:
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    await sock.bind((source, 0))
    try:
        await sock.connect(("127.0.0.1", port))
    except ConnectionResetError:
        sock.close()
        return _ResetAtConnect()
    return trio.SocketStream(sock)


async def _closed_by_server(stream: Any, within: float) -> bool:
    with trio.move_on_after(within):
        try:
            return await stream.receive_some(1) == b""
        except trio.BrokenResourceError:
            return True  # a reset
    return False


async def test_tls_handshake_counts_against_the_deadline(tls: Any) -> None:
    gate = ConnGate(ConnLimits(preauth_deadline=0.5), "test")
    async with serving("tls", tls, gate) as (url, _ctx):
        port = int(url.rsplit(":", 1)[1])
        half_open = await _raw("127.0.0.1", port)  # TCP only, never a ClientHello
        assert await _closed_by_server(half_open, 5)
        await half_open.aclose()


async def test_caps_per_source_and_in_total(tls: Any, caplog: pytest.LogCaptureFixture) -> None:
    gate = ConnGate(ConnLimits(max_preauth_per_source=2, max_preauth=3, max_connections=4, preauth_deadline=30), "test")
    async with serving("tcp", tls, gate) as (url, _ctx):
        port = int(url.rsplit(":", 1)[1])
        a1, a2 = await _raw("127.0.0.1", port), await _raw("127.0.0.1", port)
        a3 = await _raw("127.0.0.1", port)  # a third from one source
        assert await _closed_by_server(a3, 5)
        b1 = await _raw("127.0.0.2", port)  # another source still gets in
        assert not await _closed_by_server(b1, 0.3)
        c1 = await _raw("127.0.0.3", port)  # but not past the total before login
        assert await _closed_by_server(c1, 5)
        assert gate.preauth == 3 and gate.refused == 2
        # Logged-in connections leave the pre-login counts, not the total.
        await a1.aclose()
        with trio.fail_after(5):
            while gate.preauth != 2:
                await trio.sleep(0.02)
        ch = await get_carrier(url).connect(url)
        await ch.send(Hello(role="agent", node_id="a", credential=b"ok"))
        assert isinstance(await ch.receive(), Welcome)
        assert gate.total == 3 and gate.preauth == 2
        d1 = await _raw("127.0.0.4", port)  # fourth connection: the total cap
        assert not await _closed_by_server(d1, 0.3)
        e1 = await _raw("127.0.0.5", port)
        assert await _closed_by_server(e1, 5)
        for s in (a2, a3, b1, c1, d1, e1):
            await s.aclose()
        await ch.aclose()
    refusals = [r for r in caplog.records if "refused a connection" in r.getMessage()]
    assert len(refusals) == 1, "refusals are rate-limited to one line"


# --- hello ---------------------------------------------------------------------------------


async def _hello_server(ch: Channel) -> None:
    hello = await receive_hello(ch, "agent", seconds=0.5)
    if hello is not None:
        ch.mark_authenticated()
        await ch.send(Welcome(session="s"))


async def test_hello_with_an_unsupported_version_is_refused(tls: Any) -> None:
    async with serving("tls", tls, ConnLimits(), _hello_server) as (url, ctx):
        with trio.fail_after(10):
            async with await get_carrier(url).connect(url, ssl_context=ctx) as ch:
                await ch.send(Hello(role="agent", node_id="a", version=99, versions=[99, 98]))
                answer = await ch.receive()
                assert isinstance(answer, ErrorMsg) and answer.code == "P008"
                assert "99" in answer.message and "1" in answer.message
            async with await get_carrier(url).connect(url, ssl_context=ctx) as ch:
                await ch.send(Hello(role="agent", node_id="a", version=99, versions=[99, 1]))
                assert isinstance(await ch.receive(), Welcome)
            async with await get_carrier(url).connect(url, ssl_context=ctx) as ch:
                await ch.send(Hello(role="proxy", node_id="a"))
                answer = await ch.receive()
                assert isinstance(answer, ErrorMsg) and answer.code == "P003"


async def test_silence_before_hello_is_one_info_line(tls: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(transports._login, "_log_silent", _RateLog(logging.INFO))  # a fresh rate window
    async with serving("tcp", tls, ConnLimits(), _hello_server) as (url, _ctx):
        for _ in range(3):
            with trio.fail_after(10):
                async with await get_carrier(url).connect(url) as ch:
                    with pytest.raises(TransportError):
                        await ch.receive()
    lines = [r for r in caplog.records if "no hello within" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO and lines[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_limits_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        ConnLimits(preauth_frame=10)
    with pytest.raises(ValueError):
        ConnLimits(max_preauth=0)
    with pytest.raises(ValueError):
        ConnLimits(preauth_deadline=0)


def test_encoded_hello_fits_before_login() -> None:
    hello = Hello(role="agent", node_id="x" * 64, credential=b"c" * 600, proof=b"p" * 64, ts=1.0, features=["a"] * 20)
    assert len(encode(hello)) < 4096


async def test_memory_is_trimmed_after_strangers_not_after_agents(monkeypatch: pytest.MonkeyPatch) -> None:
    import transports._guard as guard

    calls: list[int] = []
    monkeypatch.setattr(guard, "trim_memory", lambda: calls.append(1) or True)
    gate = ConnGate(ConnLimits(max_preauth=500, max_preauth_per_source=500), "test")
    agents = [gate.admit("10.0.0.1") for _ in range(200)]
    for a in agents:
        assert a is not None
        a.mark_authenticated()
        a.release()
    assert calls == []  # logins are the normal case: no collection for them
    strangers = [gate.admit("10.0.0.2") for _ in range(64)]
    for s in strangers:
        assert s is not None
        s.release()
    assert calls == [1]
    assert gate.statistics()["connections"] == 0 and gate.statistics()["preauth"] == 0
    assert guard.trim_memory is not None and guard._rss() != "?"


def test_trim_memory_reaches_glibc() -> None:
    import ctypes.util

    from transports import trim_memory

    if ctypes.util.find_library("c") is None or "glibc" not in " ".join(__import__("platform").libc_ver()):
        pytest.skip("not a glibc system: nothing to trim with")
    assert trim_memory() is True
