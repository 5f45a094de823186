from __future__ import annotations

import os
import socket

import trio

from agent_core.testing import run_action


def _pair() -> tuple[socket.socket, socket.socket, socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    return server, client, accepted


async def test_connections_see_our_pair_and_queue():
    server, client, accepted = _pair()
    try:
        port = server.getsockname()[1]
        client.sendall(b"q" * 1000)  # never read: it waits in the receive queue
        await trio.sleep(0.05)
        out = await run_action("net.connections", {"port": port, "processes": True})
        assert out.ok, out.message
        conns = out.value["connections"]
        assert out.value["total"] == 2 and not out.value["truncated"]
        assert out.value["by_state"] == {"ESTABLISHED": 2}
        server_side = next(c for c in conns if c["local_port"] == port)
        client_side = next(c for c in conns if c["remote_port"] == port)
        assert (
            server_side["recv_queue"] == 1000
            and server_side["remote_port"] == client.getsockname()[1]
        )
        assert (
            client_side["local_port"] == client.getsockname()[1] and client_side["recv_queue"] == 0
        )
        assert all(c["pid"] == os.getpid() and c["uid"] == os.getuid() for c in conns)
        assert out.value["top_remotes"] == {"127.0.0.1": 2}

        out = await run_action("net.connections", {"port": port, "state": "time_wait"})
        assert out.ok and out.value["total"] == 0
        out = await run_action("net.connections", {"remote": "127.0.0.1", "limit": 1})
        assert (
            out.ok
            and len(out.value["connections"]) == 1
            and out.value["total"] >= 2
            and out.value["truncated"]
        )
    finally:
        for s in (client, accepted, server):
            s.close()


async def test_connections_bad_params():
    assert (await run_action("net.connections", {"state": "LISTEN"})).code == "A002"
    assert (await run_action("net.connections", {"remote": "not-an-ip"})).code == "A002"
    assert (await run_action("net.connections", {"proto": "icmp"})).code == "A002"
    assert (await run_action("net.connections", {"limit": 0})).code == "A002"
