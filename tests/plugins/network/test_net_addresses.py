from __future__ import annotations

import socket

import psutil

from agent_core.testing import run_action


async def test_addresses_match_psutil():
    out = await run_action("net.addresses")
    assert out.ok, out.message
    got = {(a["iface"], a["address"]) for a in out.value["addresses"]}
    expected = {
        (name, a.address.split("%")[0])
        for name, addrs in psutil.net_if_addrs().items()
        for a in addrs
        if a.family in (socket.AF_INET, socket.AF_INET6)
    }
    assert got == expected
    lo = [a for a in out.value["addresses"] if a["address"] == "127.0.0.1"]
    assert (
        lo
        and lo[0]["scope"] == "host"
        and lo[0]["prefixlen"] == 8
        and lo[0]["valid_lifetime"] is None
    )


async def test_addresses_filters_in_namespace(veth_ns):
    out = await run_action("net.addresses", {"netns": veth_ns, "family": "inet", "scope": "global"})
    assert out.ok, out.message
    got = {(a["iface"], a["address"], a["prefixlen"]) for a in out.value["addresses"]}
    assert got == {("va", "10.99.0.1", 24), ("vb", "10.99.0.2", 24)}
    assert all(a["broadcast"] == "10.99.0.255" for a in out.value["addresses"])
    out = await run_action("net.addresses", {"netns": veth_ns, "iface": "vb", "family": "inet"})
    assert [a["address"] for a in out.value["addresses"]] == ["10.99.0.2"]
    out = await run_action("net.addresses", {"family": "inet6", "scope": "host"})
    assert all(a["family"] == "inet6" and a["scope"] == "host" for a in out.value["addresses"])


async def test_addresses_bad_params():
    assert (await run_action("net.addresses", {"scope": "galaxy"})).code == "A002"
    assert (await run_action("net.addresses", {"family": "ipx"})).code == "A002"
    assert (await run_action("net.addresses", {"netns": "st-no-such-ns"})).code == "A017"
    assert (await run_action("net.addresses", {"iface": "nosuchif0"})).code == "A017"
