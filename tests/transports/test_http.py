"""HTTP long-poll carrier specifics: a real forward proxy, the protocol's
idempotence, flow control, and what bad clients get."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import trio

from transports import (
    Channel,
    ChannelClosed,
    ConnectFailed,
    Ping,
    Pong,
    StreamData,
    encode,
    frame,
    free_port,
)
from transports._http import HttpCarrier
from transports._http_wire import SEQ, Opened


async def _echo(ch: Channel) -> None:
    async for msg in ch:
        await ch.send(msg)


@asynccontextmanager
async def serving(
    carrier: HttpCarrier, url: str = "http://127.0.0.1:0/starling", handler: Any = _echo, **kwargs: Any
) -> AsyncIterator[str]:
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(lambda task_status: carrier.serve(url, handler, task_status=task_status, **kwargs))
        yield bound
        nursery.cancel_scope.cancel()


async def _round_trip(ch: Channel, seq: int) -> None:
    with trio.fail_after(10):
        await ch.send(Ping(seq=seq))
        assert await ch.receive() == Ping(seq=seq)


# --- through a real forward proxy --------------------------------------------------


@pytest.fixture
def tinyproxy() -> Any:
    """Debian's tinyproxy on 127.0.0.1, with its log in a temp dir."""
    exe = shutil.which("tinyproxy")
    if exe is None:
        pytest.skip("tinyproxy is not installed (apt-get install tinyproxy)")
    port = free_port()
    # tinyproxy drops to nobody before it opens its log: a world-writable
    # directory straight under /tmp (pytest's tmp_path is private to root).
    with tempfile.TemporaryDirectory(prefix="starling-tinyproxy-") as tmp:
        Path(tmp).chmod(0o777)
        yield from _run_tinyproxy(exe, port, Path(tmp))


def _run_tinyproxy(exe: str, port: int, tmp_path: Path) -> Any:
    log = tmp_path / "tinyproxy.log"
    conf = tmp_path / "tinyproxy.conf"
    conf.write_text(
        "User nobody\nGroup nogroup\n"
        f"Port {port}\nListen 127.0.0.1\nTimeout 600\n"
        f'LogFile "{log}"\nLogLevel Connect\nMaxClients 50\nAllow 127.0.0.1\n'
    )
    proc = subprocess.Popen([exe, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("tinyproxy exited at start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", log
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def _use_proxy(monkeypatch: pytest.MonkeyPatch, proxy: str) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    monkeypatch.setenv("HTTP_PROXY", proxy)


async def test_https_channel_crosses_a_forward_proxy(tinyproxy: Any, tls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, log = tinyproxy
    _use_proxy(monkeypatch, proxy)
    carrier = HttpCarrier(poll_timeout=1.0)
    closing = trio.Event()

    async def handler(ch: Channel) -> None:
        async for msg in ch:
            if msg == Pong(seq=0):
                break
            await ch.send(msg)
        closing.set()  # returning closes the channel cleanly

    async with serving(carrier, "https://127.0.0.1:0/starling", handler, ssl_context=tls.server) as url:
        port = url.split(":")[2].split("/")[0]
        ch = await carrier.connect(url, ssl_context=tls.client)
        for i in range(20):
            await _round_trip(ch, i)
        big = StreamData(stream_id=1, data=bytes(range(256)) * 8192)  # 2 MiB, more than one batch
        await ch.send(big)
        with trio.fail_after(10):
            assert await ch.receive() == big
        await trio.sleep(1.5)  # an idle poll answered empty through the proxy
        await _round_trip(ch, 100)
        await ch.send(Pong(seq=0))
        with trio.fail_after(10), pytest.raises(ChannelClosed):
            await ch.receive()
        await ch.aclose()
    text = log.read_text()
    assert f"CONNECT 127.0.0.1:{port} HTTP/1.1" in text, text


async def test_plain_http_channel_crosses_a_forward_proxy(tinyproxy: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, log = tinyproxy
    _use_proxy(monkeypatch, proxy)
    carrier = HttpCarrier(poll_timeout=1.0)
    async with serving(carrier) as url:
        async with await carrier.connect(url) as ch:
            for i in range(10):
                await _round_trip(ch, i)
    text = log.read_text()
    assert f"POST {url}/open" in text, text
    assert "/poll?" in text, text


# --- the protocol -------------------------------------------------------------------


async def test_lost_answers_and_repeated_batches_are_harmless() -> None:
    got: list[Any] = []
    app_channel: list[Channel] = []
    opened_event = trio.Event()
    three = trio.Event()

    async def handler(ch: Channel) -> None:
        app_channel.append(ch)
        opened_event.set()
        async for msg in ch:
            got.append(msg)
            if len(got) == 3:
                three.set()

    carrier = HttpCarrier(poll_timeout=0.2)
    async with serving(carrier, handler=handler) as url, httpx.AsyncClient(base_url=url, trust_env=False) as http:
        opened = msgspec.json.decode((await http.post(url + "/open")).content, type=Opened)
        base = f"{url}/s/{opened.session}"
        with trio.fail_after(5):
            await opened_event.wait()
        await app_channel[0].send(Pong(seq=1))
        first = await http.get(base + "/poll", params={"ack": 0, "room": 1})
        assert first.headers[SEQ] == "1" and first.content == frame(Pong(seq=1))
        again = await http.get(base + "/poll", params={"ack": 0, "room": 1})  # as if `first` was lost
        assert again.headers[SEQ] == "1" and again.content == first.content
        after = await http.get(base + "/poll", params={"ack": 1, "room": 1})
        assert after.headers[SEQ] == "1" and after.content == b""  # nothing new
        body = frame(Ping(seq=1)) + frame(Ping(seq=2))
        for _ in range(3):  # a batch sent three times is applied once
            assert (await http.post(base + "/send", params={"seq": 1}, content=body)).status_code == 204
        assert (await http.post(base + "/send", params={"seq": 2}, content=frame(Ping(seq=3)))).status_code == 204
        with trio.fail_after(5):
            await three.wait()
        await trio.sleep(0.1)
        assert got == [Ping(seq=1), Ping(seq=2), Ping(seq=3)]
        # a skipped batch number is a broken session
        assert (await http.post(base + "/send", params={"seq": 9}, content=body)).status_code == 409
        assert (await http.get(base + "/poll", params={"ack": 1})).status_code == 404


async def test_a_slow_reader_pushes_back_and_keeps_its_session() -> None:
    carrier = HttpCarrier(poll_timeout=0.3, session_timeout=1.0)
    sent = 0
    total = 40  # 40 x 256 KiB = 10 MiB, more than both sides buffer

    async def handler(ch: Channel) -> None:
        nonlocal sent
        for i in range(total):
            await ch.send(StreamData(stream_id=1, seq=i, data=b"d" * 256 * 1024))
            sent += 1
        await trio.sleep_forever()

    async with serving(carrier, handler=handler) as url:
        async with await carrier.connect(url) as ch:
            await trio.sleep(2.5)  # not reading, for more than two session timeouts
            assert sent < total  # the server's sender is held back ...
            for i in range(total):  # ... and nothing was lost or reordered
                with trio.fail_after(10):
                    msg = await ch.receive()
                assert isinstance(msg, StreamData) and msg.seq == i
            assert sent == total


async def test_quiet_client_keeps_its_session() -> None:
    carrier = HttpCarrier(poll_timeout=0.3, session_timeout=1.0)
    async with serving(carrier) as url:
        async with await carrier.connect(url) as ch:
            await _round_trip(ch, 1)
            await trio.sleep(2.5)
            await _round_trip(ch, 2)


# --- bad clients --------------------------------------------------------------------


async def test_not_a_starling_endpoint() -> None:
    carrier = HttpCarrier()
    async with serving(carrier) as url:
        with pytest.raises(ConnectFailed, match="not a Starling endpoint"):
            await carrier.connect(url.rsplit("/", 1)[0] + "/elsewhere")
    with pytest.raises(ConnectFailed):
        await carrier.connect("http://127.0.0.1:1/nothing")
    with pytest.raises(ConnectFailed):
        await carrier.serve("https://127.0.0.1:0", _echo)  # https without a context


async def test_garbage_and_silent_connections_do_not_stop_the_server() -> None:
    carrier = HttpCarrier()
    async with serving(carrier) as url:
        host, port = url.removeprefix("http://").split("/")[0].rsplit(":", 1)
        answers = []
        for junk in (
            b"\x16\x03\x01\x02\x00garbage\r\n\r\n",  # a TLS hello to a plain port
            b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\n\r\n",  # an endless request line
            b"POST /starling/open HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
            b"GET /starling/s/" + b"0" * 32 + b"/poll?ack=x HTTP/1.1\r\nHost: x\r\n\r\n",
        ):
            stream = await trio.open_tcp_stream(host, int(port))
            async with stream:
                await stream.send_all(junk)
                with trio.fail_after(10):
                    answers.append(await stream.receive_some(200))
        assert [a.split(b" ")[1] for a in answers] == [b"400", b"400", b"413", b"404"], answers
        silent = await trio.open_tcp_stream(host, int(port))  # says nothing at all
        async with silent, await carrier.connect(url) as ch:
            await _round_trip(ch, 1)
        oversized = encode(Ping(seq=1))
        async with httpx.AsyncClient(trust_env=False) as http:
            opened = msgspec.json.decode((await http.post(url + "/open")).content, type=Opened)
            resp = await http.post(
                f"{url}/s/{opened.session}/send",
                params={"seq": 1},
                content=(64 * 1024 * 1024).to_bytes(4, "big") + oversized,
            )
            assert resp.status_code == 413


async def test_a_full_server_refuses_new_sessions_clearly() -> None:
    carrier = HttpCarrier(max_sessions=2)
    async with serving(carrier) as url:
        first, second = await carrier.connect(url), await carrier.connect(url)
        with pytest.raises(ConnectFailed, match="HTTP 503"):
            await carrier.connect(url)
        await _round_trip(first, 1)
        await first.aclose()
        await second.aclose()
