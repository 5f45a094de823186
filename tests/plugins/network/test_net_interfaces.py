from __future__ import annotations

import json
import subprocess

from agent_core.testing import run_action


def _ip_links() -> dict[str, dict]:
    out = subprocess.run(
        ["ip", "-j", "link", "show"], capture_output=True, text=True, check=True
    ).stdout
    return {link["ifname"]: link for link in json.loads(out)}


async def test_interfaces_match_ip_link():
    out = await run_action("net.interfaces")
    assert out.ok, out.message
    got = {i["name"]: i for i in out.value["interfaces"]}
    links = _ip_links()
    assert set(got) == set(links)
    for name, link in links.items():
        assert got[name]["index"] == link["ifindex"]
        assert got[name]["mtu"] == link["mtu"]
        assert got[name]["mac"] == link.get("address", "")
        assert got[name]["up"] == ("UP" in link["flags"])
    lo = got["lo"]
    assert lo["kind"] == "loopback" and "LOOPBACK" in lo["flags"]
    assert {"family": "inet", "address": "127.0.0.1", "prefixlen": 8} in lo["addresses"]


async def test_interfaces_filter_and_errors():
    out = await run_action("net.interfaces", {"iface": "lo", "addresses": False})
    assert out.ok and [i["name"] for i in out.value["interfaces"]] == ["lo"]
    assert out.value["interfaces"][0]["addresses"] == []
    out = await run_action("net.interfaces", {"iface": "nosuchif0"})
    assert out.code == "A017" and "nosuchif0" in out.message
    out = await run_action("net.interfaces", {"iface": "bad/name"})
    assert out.code == "A002"
    out = await run_action("net.interfaces", {"bogus": 1})
    assert out.code == "A002"
