from __future__ import annotations

from agent_core.testing import run_action


async def test_route_get_loopback():
    out = await run_action("net.route.get", {"destination": "127.0.0.1"})
    assert out.ok, out.message
    assert out.value["iface"] == "lo" and out.value["type"] == "local" and out.value["reachable"]
    out = await run_action("net.route.get", {"destination": "::1"})
    assert out.ok and out.value["iface"] == "lo" and out.value["source"] == "::1"


async def test_route_get_in_namespace(veth_ns):
    out = await run_action("net.route.get", {"destination": "10.98.4.5", "netns": veth_ns})
    assert out.ok, out.message
    assert out.value["gateway"] == "10.99.0.254" and out.value["iface"] == "va"
    assert out.value["source"] == "10.99.0.1" and out.value["reachable"]
    out = await run_action(
        "net.route.get", {"destination": "10.99.0.9", "netns": veth_ns, "oif": "vb"}
    )
    assert out.ok and out.value["iface"] == "vb" and out.value["gateway"] == ""
    # No default route in the namespace: the kernel says unreachable, nothing is sent.
    out = await run_action("net.route.get", {"destination": "203.0.113.9", "netns": veth_ns})
    assert (
        out.ok and out.value["reachable"] is False and "unreachable" in out.value["error"].lower()
    )


async def test_route_get_bad_params():
    assert (await run_action("net.route.get", {"destination": "db1.example"})).code == "A002"
    out = await run_action("net.route.get", {"destination": "127.0.0.1", "source": "::1"})
    assert out.code == "A002"
    assert (await run_action("net.route.get", {})).code == "A002"
    out = await run_action("net.route.get", {"destination": "127.0.0.1", "oif": "nosuchif0"})
    assert out.code == "A017"
