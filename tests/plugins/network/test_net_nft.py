from __future__ import annotations

import shutil

import pytest

from agent_core.testing import run_action

HAS_NFT = shutil.which("nft") is not None


async def test_nft_ruleset_in_namespace(netns, sh):
    if not HAS_NFT:
        assert (await run_action("net.nft", {"netns": netns})).code == "A003"
        pytest.skip("nft absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    ex = ["ip", "netns", "exec", netns, "nft"]
    sh(*ex, "add", "table", "inet", "st")
    sh(
        *ex,
        "add",
        "chain",
        "inet",
        "st",
        "input",
        "{ type filter hook input priority 0; policy drop; }",
    )
    sh(*ex, "add", "set", "inet", "st", "blocked", "{ type ipv4_addr; }")
    sh(*ex, "add", "element", "inet", "st", "blocked", "{ 192.0.2.7, 192.0.2.8 }")
    sh(
        *ex,
        "add",
        "rule",
        "inet",
        "st",
        "input",
        "tcp",
        "dport",
        "2223",
        "counter",
        "drop",
        "comment",
        '"starling test"',
    )
    sh(*ex, "add", "rule", "inet", "st", "input", "iif", "lo", "accept")

    out = await run_action("net.nft", {"netns": netns})
    assert out.ok, out.message
    v = out.value
    assert [(t["family"], t["name"]) for t in v["tables"]] == [("inet", "st")]
    (chain,) = v["chains"]
    assert (chain["name"], chain["type"], chain["hook"], chain["priority"], chain["policy"]) == (
        "input",
        "filter",
        "input",
        0,
        "drop",
    )
    first, second = v["rules"]
    assert (
        first["comment"] == "starling test" and first["verdict"] == "drop" and first["packets"] == 0
    )
    assert first["text"].startswith("tcp dport 2223 counter packets 0 bytes 0 drop")
    assert (
        second["verdict"] == "accept"
        and second["text"] == 'iif "lo" accept'
        and second["packets"] is None
    )
    assert v["sets"] == [
        {"family": "inet", "table": "st", "name": "blocked", "type": "ipv4_addr", "elements": 2}
    ]

    out = await run_action("net.nft", {"netns": netns, "family": "inet", "table": "st"})
    assert out.ok and len(out.value["rules"]) == 2
    out = await run_action("net.nft", {"netns": netns, "family": "inet", "table": "nope"})
    assert out.code == "A017"


async def test_nft_bad_params():
    assert (await run_action("net.nft", {"table": "st"})).code == "A002"
    assert (await run_action("net.nft", {"family": "ipx"})).code == "A002"
    assert (await run_action("net.nft", {"family": "inet", "table": "a b"})).code == "A002"
