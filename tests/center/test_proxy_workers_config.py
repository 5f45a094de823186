"""``workers`` in the proxy config, and how the center sees a proxy's workers.

The processes themselves are tested in tests/integration/test_proxy_workers.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import trio

from center._config import ProxyConfig, load
from center._links import ProxyLink, ProxyLinks
from center.proxy._proxy import Proxy
from center.proxy._workers import worker_count
from transports import Balance
from transports._memory import MemoryChannel

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_workers_default_env_and_cpu_count() -> None:
    assert worker_count(ProxyConfig()) == 1
    assert worker_count(load(ProxyConfig, None, "proxy", env={"STARLING_PROXY_WORKERS": "3"})) == 3
    assert worker_count(ProxyConfig(workers=0)) == (os.cpu_count() or 1)
    with pytest.raises(SystemExit, match="workers must be >= 0"):
        worker_count(ProxyConfig(workers=-1))


def test_workers_are_documented() -> None:
    deploy = (DOCS / "deploy.md").read_text()
    assert "workers = 4" in deploy and "LimitNOFILE" in deploy
    assert "## Proxy workers" in (DOCS / "architecture.md").read_text()


def test_worker_link_ids_and_what_a_drained_agent_avoids() -> None:
    alone = Proxy(proxy_id="p", idc="i", centers=[], proxy_token="", advertise=[], client_ssl=None)
    assert alone.link_id == "p" and alone.avoid_ids() == ["p"]
    w1 = Proxy(proxy_id="p", idc="i", centers=[], proxy_token="", advertise=[], client_ssl=None, worker="w1", workers=3)
    assert w1.link_id == "p.w1"
    assert w1.avoid_ids() == ["p", "p.w0", "p.w1", "p.w2"]


def _link(proxy_id: str, host: str, connections: int) -> tuple[ProxyLink, trio.MemoryReceiveChannel[bytes]]:
    to_proxy, from_center = trio.open_memory_channel[bytes](10)
    _unused_send, unused_recv = trio.open_memory_channel[bytes](0)
    link = ProxyLink(proxy_id=proxy_id, idc="dc", channel=MemoryChannel(to_proxy, unused_recv, proxy_id, 1 << 20), host=host)
    link.connections = connections
    return link, from_center


async def test_center_balances_hosts_not_workers() -> None:
    from transports import decode

    center = SimpleNamespace(links={})  # balancing reads only the center's links
    balancer = ProxyLinks(center)  # type: ignore[arg-type]
    # Proxy "a" runs two workers holding 900 agents together; proxy "b" holds 300.
    # Worker w0 of "a" holds far more than w1: the kernel's choice, not to be evened out.
    a0, a0_rx = _link("a.w0", "a", 700)
    a1, a1_rx = _link("a.w1", "a", 200)
    b, b_rx = _link("b", "b", 300)
    center.links = {lk.proxy_id: lk for lk in (a0, a1, b)}
    await balancer._balance("dc")  # the first report only records the total
    await balancer._balance("dc")
    sent = {name: decode(rx.receive_nowait()) for name, rx in (("a.w0", a0_rx), ("a.w1", a1_rx))}
    # Mean per proxy host is 600: each of a's two workers drains to 301.
    assert sent == {"a.w0": Balance(target=301), "a.w1": Balance(target=301)}
    with pytest.raises(trio.WouldBlock):
        b_rx.receive_nowait()

    # Two workers of one proxy alone in their IDC: nothing to balance.
    balancer._idc_totals = {}
    center.links = {lk.proxy_id: lk for lk in (a0, a1)}
    await balancer._balance("dc")
    await balancer._balance("dc")
    with pytest.raises(trio.WouldBlock):
        a0_rx.receive_nowait()
