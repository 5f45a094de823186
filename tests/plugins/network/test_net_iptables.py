from __future__ import annotations

import shutil

import pytest

from agent_core.testing import run_action

HAS_IPTABLES = shutil.which("iptables-save") is not None


async def test_iptables_rules_in_namespace(netns, sh):
    if not HAS_IPTABLES:
        out = await run_action("net.iptables", {"netns": netns})
        assert out.code == "A003" and "iptables" in out.message
        pytest.skip("iptables-save absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    ex = ["ip", "netns", "exec", netns]
    sh(*ex, "iptables", "-N", "STARLING")
    sh(*ex, "iptables", "-P", "FORWARD", "DROP")
    sh(
        *ex,
        "iptables",
        "-A",
        "INPUT",
        "-s",
        "10.0.0.0/8",
        "-p",
        "tcp",
        "--dport",
        "2222",
        "-m",
        "comment",
        "--comment",
        "starling test",
        "-j",
        "DROP",
    )
    sh(
        *ex,
        "iptables",
        "-A",
        "INPUT",
        "!",
        "-i",
        "lo",
        "-p",
        "udp",
        "--sport",
        "53",
        "-j",
        "STARLING",
    )
    sh(*ex, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "lo", "-j", "MASQUERADE")

    out = await run_action("net.iptables", {"netns": netns, "family": "inet"})
    assert out.ok, out.message
    v = out.value
    chains = {(c["table"], c["name"]): c["policy"] for c in v["chains"]}
    assert chains[("filter", "FORWARD")] == "DROP" and chains[("filter", "STARLING")] == "-"
    rules = [r for r in v["rules"] if r["table"] == "filter" and r["chain"] == "INPUT"]
    assert [r["index"] for r in rules] == [1, 2]
    first, second = rules
    assert (
        first["target"],
        first["protocol"],
        first["source"],
        first["dport"],
        first["comment"],
    ) == ("DROP", "tcp", "10.0.0.0/8", "2222", "starling test")
    assert first["packets"] == 0 and "--dport 2222" in first["text"]
    assert (second["target"], second["in_iface"], second["sport"]) == ("STARLING", "!lo", "53")
    nat = [r for r in v["rules"] if r["table"] == "nat"]
    assert [(r["chain"], r["target"], r["out_iface"]) for r in nat] == [
        ("POSTROUTING", "MASQUERADE", "lo")
    ]

    out = await run_action("net.iptables", {"netns": netns, "family": "inet", "table": "nat"})
    assert {r["table"] for r in out.value["rules"]} == {"nat"}


async def test_iptables_bad_params():
    assert (await run_action("net.iptables", {"table": "bogus"})).code == "A002"
    out = await run_action("net.iptables", {"netns": "st-no-such-ns"})
    if not HAS_IPTABLES:
        pytest.skip("iptables-save absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    assert out.code == "A017"
