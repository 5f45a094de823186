from __future__ import annotations

import socket

from agent_core.testing import run_action


def _tcp_mem_pressure() -> int:
    with open("/proc/sys/net/ipv4/tcp_mem") as fh:
        return int(fh.read().split()[1])


async def test_sockstat_counts_our_sockets():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    pairs = []
    for _ in range(5):
        c = socket.create_connection(server.getsockname())
        a, _ = server.accept()
        pairs += [c, a]
    try:
        out = await run_action("net.sockets.summary")
        assert out.ok, out.message
        v = out.value
        assert v["tcp_states"].get("ESTABLISHED", 0) >= 10 and v["tcp_states"].get("LISTEN", 0) >= 1
        assert v["in_use"]["TCP"] >= 11 and v["sockets_used"] >= 11
        assert v["tcp_alloc"] >= v["in_use"]["TCP"] - v["tcp_orphan"] - v["tcp_time_wait"]
        assert (
            v["tcp"]["CurrEstab"] >= 10
            and v["tcp"]["ActiveOpens"] >= 5
            and v["tcp"]["PassiveOpens"] >= 5
        )
        assert v["tcp_mem_pressure_pages"] == _tcp_mem_pressure()
        assert (
            set(v["udp"]) >= {"InDatagrams", "RcvbufErrors"} and "ListenOverflows" in v["tcp_ext"]
        )
        assert isinstance(v["problems"], list)
    finally:
        for s in [*pairs, server]:
            s.close()


async def test_sockstat_takes_no_params():
    assert (await run_action("net.sockets.summary", {"verbose": True})).code == "A002"
