from __future__ import annotations

import json
import subprocess

from agent_core.testing import run_action


def _ip_defaults(family: str) -> set[tuple[str, str]]:
    out = subprocess.run(
        ["ip", "-j", family, "route", "show", "default"], capture_output=True, text=True, check=True
    ).stdout
    return {(r["gateway"], r["dev"]) for r in json.loads(out) if "gateway" in r}


async def test_gateway_matches_ip_route_default():
    out = await run_action("net.gateway")
    assert out.ok, out.message
    gws = out.value["gateways"]
    assert {(g["gateway"], g["iface"]) for g in gws if g["family"] == "inet"} == _ip_defaults("-4")
    assert {(g["gateway"], g["iface"]) for g in gws if g["family"] == "inet6"} == _ip_defaults("-6")
    for fam in ("inet", "inet6"):
        mine = [g for g in gws if g["family"] == fam]
        if mine:
            assert sum(g["primary"] for g in mine) == 1
            assert min(mine, key=lambda g: g["metric"])["primary"]
    if not _ip_defaults("-4"):
        assert "no IPv4 default route" in out.value["problems"]
    for g in gws:
        if not g["on_link"]:
            assert any(g["gateway"] in msg for msg in out.value["problems"])


async def test_gateway_family_filter_and_bad_params():
    out = await run_action("net.gateway", {"family": "inet"})
    assert out.ok and all(g["family"] == "inet" for g in out.value["gateways"])
    assert (await run_action("net.gateway", {"family": "x"})).code == "A002"
    assert (await run_action("net.gateway", {"family": "inet", "extra": 1})).code == "A002"
