from __future__ import annotations

import psutil
import trio

from agent_core.testing import run_action


async def test_traffic_counters_and_rates_on_loopback():
    before = psutil.net_io_counters(pernic=True)["lo"]
    receiver = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await receiver.bind(("127.0.0.1", 0))
    sender = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    result = {}

    async def measure():
        result["out"] = await run_action("net.traffic", {"iface": "lo", "interval": 0.5})

    async with trio.open_nursery() as nursery:
        nursery.start_soon(measure)
        for _ in range(200):
            await sender.sendto(b"x" * 1000, receiver.getsockname())
            await trio.sleep(0.002)
    sender.close()
    receiver.close()
    out = result["out"]
    assert out.ok, out.message
    (lo,) = out.value["interfaces"]
    assert lo["iface"] == "lo" and out.value["interval"] >= 0.5
    assert lo["rx_bytes"] >= before.bytes_recv + 1000
    assert lo["tx_packets"] >= before.packets_sent
    assert lo["rx_bytes_per_s"] > 1000 and lo["tx_packets_per_s"] > 0


async def test_traffic_all_and_bad_params():
    out = await run_action("net.traffic")
    assert out.ok and out.value["interval"] == 0
    assert set(psutil.net_io_counters(pernic=True)) == {i["iface"] for i in out.value["interfaces"]}
    assert all(i["rx_bytes_per_s"] is None for i in out.value["interfaces"])
    assert (await run_action("net.traffic", {"interval": 120})).code == "A002"
    assert (await run_action("net.traffic", {"iface": "nosuchif0"})).code == "A017"
