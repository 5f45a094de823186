"""net.sockets on real sockets this test opens on 127.0.0.1 / ::1, through every backend."""

from __future__ import annotations

import os
import shutil
import socket

import psutil
import pytest
import trio

from agent_core.testing import run_action

BACKENDS = [
    "procfs",
    "psutil",
    pytest.param("ss", marks=pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) absent: the ss backend is not exercised here")),
]


def _pair() -> tuple[socket.socket, socket.socket, socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    return server, client, accepted


@pytest.mark.parametrize("backend", BACKENDS)
async def test_sockets_see_our_listener_and_pair(backend):
    server, client, accepted = _pair()
    udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp.bind(("::1", 0))
    try:
        port, cport, uport = server.getsockname()[1], client.getsockname()[1], udp.getsockname()[1]
        client.sendall(b"q" * 1000)  # never read: it waits in the receive queue
        await trio.sleep(0.05)
        out = await run_action("net.sockets", {"port": port, "backend": backend})
        assert out.ok, out.message
        v = out.value
        assert v["backend"] == backend and v["total"] == 3 and not v["truncated"]
        assert v["by_state"] == {"LISTEN": 1, "ESTABLISHED": 2} and v["top_remotes"] == {"127.0.0.1": 2}
        listener, *conns = v["sockets"]
        me = psutil.Process()
        assert (listener["proto"], listener["family"], listener["local"], listener["local_port"]) == ("tcp", "inet", "127.0.0.1", port)
        assert listener["listening"] and not listener["exposed"] and listener["state"] == "LISTEN"
        for s in v["sockets"]:
            assert (s["pid"], s["process"], s["uid"], s["user"]) == (os.getpid(), me.name(), os.getuid(), me.username())
        server_side = next(c for c in conns if c["local_port"] == port)
        client_side = next(c for c in conns if c["local_port"] == cport)
        assert server_side["remote_port"] == cport and client_side["remote_port"] == port
        if backend == "psutil":  # psutil has neither queues nor inodes: said as None, not guessed
            assert server_side["recv_queue"] is None and server_side["inode"] is None
        else:
            assert server_side["recv_queue"] == 1000 and client_side["recv_queue"] == 0
            fds = {os.readlink(f"/proc/self/fd/{s.fileno()}") for s in (server, client, accepted)}
            assert {f"socket:[{s['inode']}]" for s in v["sockets"]} == fds

        out = await run_action("net.sockets", {"proto": "udp", "port": uport, "backend": backend})
        (u,) = out.value["sockets"]
        assert (u["proto"], u["family"], u["local"], u["state"], u["listening"]) == ("udp", "inet6", "::1", "UNCONN", True)

        out = await run_action("net.sockets", {"port": port, "state": "listening", "backend": backend})
        assert [s["local_port"] for s in out.value["sockets"]] == [port]
        out = await run_action("net.sockets", {"port": port, "state": "connected", "backend": backend})
        assert out.value["total"] == 2
        out = await run_action("net.sockets", {"port": port, "state": "time_wait", "backend": backend})
        assert out.ok and out.value["total"] == 0
        out = await run_action("net.sockets", {"pid": os.getpid(), "port": port, "remote": "127.0.0.1", "backend": backend})
        assert out.value["total"] == 2
        out = await run_action("net.sockets", {"exposed_only": True, "backend": backend})
        assert out.ok and port not in {s["local_port"] for s in out.value["sockets"]}
        assert all(s["exposed"] for s in out.value["sockets"])
    finally:
        for s in (client, accepted, server, udp):
            s.close()


async def test_sockets_limit_and_auto_backend():
    server, client, accepted = _pair()
    try:
        out = await run_action("net.sockets", {"remote": "127.0.0.1", "limit": 1, "processes": False})
        assert out.ok and out.value["backend"] == "procfs"
        assert len(out.value["sockets"]) == 1 and out.value["total"] >= 2 and out.value["truncated"]
        assert out.value["sockets"][0]["pid"] is None  # no owner scan asked for
    finally:
        for s in (client, accepted, server):
            s.close()


async def test_sockets_bad_params():
    assert (await run_action("net.sockets", {"state": "BOGUS"})).code == "A002"
    assert (await run_action("net.sockets", {"remote": "not-an-ip"})).code == "A002"
    assert (await run_action("net.sockets", {"proto": "icmp"})).code == "A002"
    assert (await run_action("net.sockets", {"limit": 0})).code == "A002"
    assert (await run_action("net.sockets", {"port": 70000})).code == "A002"
    assert (await run_action("net.sockets", {"backend": "netstat"})).code == "A002"
    assert (await run_action("net.sockets", {"pid": 1, "processes": False})).code == "A002"


async def test_ss_backend_missing_is_a003(hidden_tools):
    run = hidden_tools("ss")
    assert (await run("net.sockets", {"backend": "ss"})).code == "A003"


def test_parse_ss_forms():
    """The endpoint forms ss prints: wildcard, interface suffix, IPv4-mapped, root's sockets without uid."""
    from plugins.network._sockets import parse_ss

    text = (
        'tcp LISTEN 0 128 *:22 *:* users:(("sshd",pid=10,fd=3)) ino:100 sk:1 cgroup:/ v6only:0 <->\n'
        "udp UNCONN 0 0 127.0.0.53%lo:53 0.0.0.0:* uid:101 ino:200 sk:2 cgroup:/ <->\n"
        'tcp ESTAB 5 7 [::ffff:127.0.0.1]:8080 [::ffff:127.0.0.1]:40000 users:(("app",pid=30,fd=9)) uid:1000 ino:300 sk:3 <->\n'
        "tcp TIME-WAIT 0 0 127.0.0.1:5000 127.0.0.1:5001 timer:(timewait,59sec,0)\n"
        "garbage line\n"
    )
    rows = parse_ss(text)
    assert [(r.proto, r.family, r.local, r.local_port, r.state, r.listening, r.exposed) for r in rows] == [
        ("tcp", "inet6", "::", 22, "LISTEN", True, True),
        ("udp", "inet", "127.0.0.53", 53, "UNCONN", True, False),
        ("tcp", "inet6", "127.0.0.1", 8080, "ESTABLISHED", False, False),
        ("tcp", "inet", "127.0.0.1", 5000, "TIME_WAIT", False, False),
    ]
    assert (rows[0].pid, rows[0].process, rows[0].uid, rows[0].inode, rows[0].send_queue) == (10, "sshd", 0, 100, 0)
    assert (rows[2].remote, rows[2].remote_port, rows[2].recv_queue, rows[2].send_queue, rows[2].uid) == ("127.0.0.1", 40000, 5, 7, 1000)
    assert rows[3].pid is None and rows[3].inode is None and rows[3].uid is None
