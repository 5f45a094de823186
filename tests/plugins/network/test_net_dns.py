from __future__ import annotations

import socket

from agent_core.testing import run_action


async def test_resolve_localhost_like_getaddrinfo():
    out = await run_action("net.dns.resolve", {"name": "localhost"})
    assert out.ok, out.message
    expected = {
        a[4][0] for a in socket.getaddrinfo("localhost", None, socket.AF_INET, socket.SOCK_STREAM)
    }
    assert set(out.value["ipv4"]) == expected and out.value["elapsed_ms"] >= 0
    # Literals resolve without asking any server (tests send no DNS traffic).
    out = await run_action("net.dns.resolve", {"name": "::1", "family": "inet6"})
    assert out.ok and out.value["ipv4"] == [] and out.value["ipv6"] == ["::1"]
    out = await run_action("net.dns.resolve", {"name": "127.0.0.1", "family": "inet"})
    assert out.ok and out.value["ipv4"] == ["127.0.0.1"] and out.value["ipv6"] == []


async def test_reverse_loopback():
    out = await run_action("net.dns.reverse", {"address": "127.0.0.1"})
    assert out.ok, out.message
    assert out.value["name"] == socket.gethostbyaddr("127.0.0.1")[0]


async def test_dns_bad_params():
    for name in ("-oops", "a..b", "x" * 64 + ".example", ""):
        assert (await run_action("net.dns.resolve", {"name": name})).code == "A002", name
    assert (
        await run_action("net.dns.resolve", {"name": "localhost", "family": "ipx"})
    ).code == "A002"
    assert (await run_action("net.dns.reverse", {"address": "localhost"})).code == "A002"
