from __future__ import annotations

import ipaddress
import json
import subprocess

from agent_core.testing import run_action


def _ip_routes(family: str) -> set[tuple[str, str, str]]:
    out = subprocess.run(
        ["ip", "-j", family, "route", "show", "table", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    routes = set()
    for r in json.loads(out):
        if r.get("type", "unicast") != "unicast":
            continue
        dst = r["dst"]
        dst = (
            ("0.0.0.0/0" if family == "-4" else "::/0")
            if dst == "default"
            else str(ipaddress.ip_network(dst, strict=False))
        )
        routes.add((dst, r.get("gateway", ""), r.get("dev", "")))
    return routes


async def test_routes_match_ip_route():
    out = await run_action("net.routes")
    assert out.ok, out.message
    got4 = {
        (r["destination"], r["gateway"], r["iface"])
        for r in out.value["routes"]
        if r["family"] == "inet"
    }
    got6 = {
        (str(ipaddress.ip_network(r["destination"])), r["gateway"], r["iface"])
        for r in out.value["routes"]
        if r["family"] == "inet6" and r["type"] == "unicast"
    }
    assert got4 == _ip_routes("-4")
    assert got6 == _ip_routes("-6")
    defaults = [r for r in out.value["routes"] if r["destination"] in ("0.0.0.0/0", "::/0")]
    assert out.value["default_routes"] == len(defaults)
    for r in defaults:
        assert "gateway" in r["flags"] and r["gateway"]


async def test_routes_filters_and_local_table():
    out = await run_action("net.routes", {"family": "inet6", "include_local": True})
    assert out.ok
    local = [r for r in out.value["routes"] if r["type"] == "local"]
    assert any(r["destination"] == "::1/128" and r["iface"] == "lo" for r in local)
    out = await run_action("net.routes", {"family": "inet", "iface": "lo"})
    assert out.ok and all(r["iface"] == "lo" and r["family"] == "inet" for r in out.value["routes"])
    assert (await run_action("net.routes", {"family": "ipx"})).code == "A002"
    assert (await run_action("net.routes", {"iface": "a b"})).code == "A002"
