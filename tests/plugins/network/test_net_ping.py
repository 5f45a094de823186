from __future__ import annotations

import shutil

import pytest

from agent_core.testing import run_action

HAS_PING = shutil.which("ping") is not None


@pytest.mark.parametrize("host,family", [("127.0.0.1", "inet"), ("::1", "inet6")])
async def test_ping_loopback(host, family):
    out = await run_action(
        "net.ping", {"host": host, "count": 2, "interval": 0.2, "family": family}
    )
    if not HAS_PING:
        assert out.code == "A003" and "ping" in out.message
        pytest.skip("ping absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    assert out.ok, out.message
    v = out.value
    assert (
        v["transmitted"] == 2 and v["received"] == 2 and v["loss_percent"] == 0 and v["reachable"]
    )
    assert v["address"] == host and [r["seq"] for r in v["replies"]] == [1, 2]
    assert v["rtt_min_ms"] <= v["rtt_avg_ms"] <= v["rtt_max_ms"]
    assert all(r["time_ms"] >= 0 and r["ttl"] > 0 for r in v["replies"])


async def test_ping_bad_params():
    expected = "A002"
    assert (await run_action("net.ping", {"host": "-f"})).code == expected
    assert (await run_action("net.ping", {"host": "127.0.0.1", "count": 0})).code == expected
    assert (await run_action("net.ping", {"host": "127.0.0.1", "interval": 0.01})).code == expected
    assert (await run_action("net.ping", {"host": "127.0.0.1", "family": "ipx"})).code == expected
