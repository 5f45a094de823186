from __future__ import annotations

import socket

import trio

from agent_core.testing import run_action


def _closed_port(family: int = socket.AF_INET, host: str = "127.0.0.1") -> int:
    s = socket.socket(family)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def test_port_open_with_banner_and_refused():
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    async def serve_once():
        conn, _ = await listener.accept()
        await conn.send(b"SSH-2.0-starling-test\r\n")
        await trio.sleep(0.5)
        conn.close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_once)
        out = await run_action("net.port", {"host": "127.0.0.1", "port": port, "banner": True})
    listener.close()
    assert out.ok, out.message
    assert out.value["open"] is True and out.value["banner"] == "SSH-2.0-starling-test\r\n"
    (attempt,) = out.value["attempts"]
    assert attempt["state"] == "open" and attempt["connect_ms"] >= 0

    closed = _closed_port()
    out = await run_action("net.port", {"host": "127.0.0.1", "port": closed})
    assert out.ok and out.value["open"] is False and out.value["attempts"][0]["state"] == "refused"


async def test_port_ipv6_loopback():
    server = socket.socket(socket.AF_INET6)
    server.bind(("::1", 0))
    server.listen()
    try:
        out = await run_action(
            "net.port", {"host": "::1", "port": server.getsockname()[1], "family": "inet6"}
        )
        assert out.ok and out.value["open"] and out.value["attempts"][0]["address"] == "::1"
    finally:
        server.close()


async def test_port_bad_params():
    assert (await run_action("net.port", {"host": "127.0.0.1", "port": 0})).code == "A002"
    assert (await run_action("net.port", {"host": "--x", "port": 22})).code == "A002"
    assert (
        await run_action("net.port", {"host": "127.0.0.1", "port": 22, "timeout": 0})
    ).code == "A002"
    assert (await run_action("net.port", {"host": "127.0.0.1"})).code == "A002"
