"""The example carrier passes Starling's conformance kit, and is found by
its entry point once installed."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest
import trio
from starling_carrier_unix import UnixCarrier

from transports import ConnectFailed, Ping, get_carrier
from transports.testing import check_transport


async def test_conformance(tmp_path: Path) -> None:
    await check_transport(UnixCarrier(), f"unix://{tmp_path}/conformance.sock")


def test_found_by_entry_point() -> None:
    names = {ep.name: ep for ep in entry_points(group="starling.transports")}
    assert "unix" in names, "install the package: pip install -e examples/starling-carrier-unix"
    assert names["unix"].load() is UnixCarrier
    assert isinstance(get_carrier("unix:///run/x.sock"), UnixCarrier)


async def test_peer_credentials_and_bad_urls(tmp_path: Path) -> None:
    carrier = UnixCarrier()
    seen: list[str] = []

    async def handler(ch):  # type: ignore[no-untyped-def]
        seen.append(ch.peer)
        async for msg in ch:
            await ch.send(msg)

    url = f"unix://{tmp_path}/peer.sock"
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: carrier.serve(url, handler, task_status=task_status))
        with pytest.raises(ConnectFailed, match="address in use"):
            await carrier.serve(url, handler)
        async with await carrier.connect(url) as ch:
            await ch.send(Ping(seq=1))
            assert await ch.receive() == Ping(seq=1)
        assert seen and seen[0].startswith("pid ")
        nursery.cancel_scope.cancel()
    assert not (tmp_path / "peer.sock").exists()  # removed when the server stops
    for bad in ("unix://relative/x.sock", "unix:relative.sock"):
        with pytest.raises(ConnectFailed):
            await carrier.connect(bad)
    with pytest.raises(ConnectFailed):
        await carrier.connect(f"unix://{tmp_path}/nobody-here.sock")
