from __future__ import annotations

import os
import socket

import psutil

from agent_core.testing import run_action


async def test_listening_finds_our_sockets():
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp.bind(("::1", 0))
    try:
        tport, uport = tcp.getsockname()[1], udp.getsockname()[1]
        out = await run_action("net.listening", {"port": tport})
        assert out.ok, out.message
        (entry,) = out.value["listeners"]
        me = psutil.Process()
        assert (
            entry["proto"] == "tcp"
            and entry["address"] == "127.0.0.1"
            and entry["family"] == "inet"
        )
        assert (
            entry["pid"] == os.getpid()
            and entry["process"] == me.name()
            and entry["user"] == me.username()
        )
        assert entry["exposed"] is False and entry["cmdline"] == me.cmdline()

        out = await run_action("net.listening", {"proto": "udp", "port": uport})
        (entry,) = out.value["listeners"]
        assert entry["proto"] == "udp" and entry["family"] == "inet6" and entry["address"] == "::1"

        out = await run_action("net.listening", {"exposed_only": True})
        assert out.ok and tport not in {x["port"] for x in out.value["listeners"]}
        assert all(x["exposed"] for x in out.value["listeners"])
    finally:
        tcp.close()
        udp.close()


async def test_listening_bad_params():
    assert (await run_action("net.listening", {"proto": "sctp"})).code == "A002"
    assert (await run_action("net.listening", {"port": 70000})).code == "A002"
    assert (await run_action("net.listening", {"port": "http"})).code == "A002"
