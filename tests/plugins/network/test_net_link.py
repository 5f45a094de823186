from __future__ import annotations

import json
import subprocess

from agent_core.testing import run_action


def _ip_stats() -> list[dict]:
    return json.loads(
        subprocess.run(
            ["ip", "-j", "-s", "link"], capture_output=True, text=True, check=True
        ).stdout
    )


async def test_link_matches_ip_stats():
    out = await run_action("net.link")
    assert out.ok, out.message
    got = {lk["iface"]: lk for lk in out.value["links"]}
    assert "lo" not in got
    for link in _ip_stats():
        if link["ifname"] == "lo":
            continue
        mine = got[link["ifname"]]
        assert mine["mtu"] == link["mtu"]
        assert mine["tx_queue_len"] == link.get("txqlen", mine["tx_queue_len"])
        assert mine["state"] == link["operstate"].lower()
        # Error counters only grow: ours were read first.
        assert mine["errors"]["rx_errors"] <= link["stats64"]["rx"]["errors"]
        if mine["state"] == "down":
            assert any(
                msg.startswith(link["ifname"] + ": no carrier") for msg in out.value["problems"]
            )


async def test_link_one_interface_and_errors():
    out = await run_action("net.link", {"iface": "lo"})
    assert out.ok and [lk["iface"] for lk in out.value["links"]] == ["lo"]
    assert out.value["links"][0]["virtual"] is True and out.value["links"][0]["driver"] == ""
    assert (await run_action("net.link", {"iface": "nosuchif0"})).code == "A017"
    assert (await run_action("net.link", {"iface": 7})).code == "A002"
