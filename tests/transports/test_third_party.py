"""The example third-party carrier (examples/starling-carrier-unix) works from
its source tree, and, installed, is found by its entry point like any other.

CI installs it with:
    .venv/bin/pip install -q --no-deps -e examples/starling-carrier-unix
"""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from transports import get_carrier
from transports.testing import check_transport

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "starling-carrier-unix"


def _import_from_source() -> Any:
    if str(EXAMPLE) not in sys.path:
        sys.path.insert(0, str(EXAMPLE))
    return importlib.import_module("starling_carrier_unix")


async def test_example_carrier_passes_the_kit_from_its_source(tmp_path: Path) -> None:
    module = _import_from_source()
    assert Path(module.__file__).is_relative_to(EXAMPLE)
    await check_transport(module.UnixCarrier(), f"unix://{tmp_path}/kit.sock")


def test_example_carrier_is_found_by_entry_point() -> None:
    found = {ep.name: ep for ep in entry_points(group="starling.transports")}
    assert "unix" in found, (
        "the example carrier is not installed: "
        ".venv/bin/pip install -q --no-deps -e examples/starling-carrier-unix"
    )
    cls = found["unix"].load()
    assert cls is _import_from_source().UnixCarrier
    assert isinstance(get_carrier("unix:///run/starling.sock"), cls)


async def test_example_carrier_applies_the_pre_login_bounds(tmp_path: Path) -> None:
    import pytest
    import trio

    from transports import ConnLimits, Hello, TransportError, Welcome

    module = _import_from_source()
    carrier = module.UnixCarrier()

    async def login_then_echo(ch: Any) -> None:
        hello = await ch.receive()
        if hello.credential == b"ok":
            ch.mark_authenticated()
            await ch.send(Welcome(session="s"))
            async for msg in ch:
                await ch.send(msg)

    async with trio.open_nursery() as nursery:
        url = await nursery.start(
            lambda task_status: carrier.serve(
                f"unix://{tmp_path}/g.sock", login_then_echo, limits=ConnLimits(preauth_frame=4096), task_status=task_status
            )
        )
        with trio.fail_after(10):
            ch = await carrier.connect(url)
            with pytest.raises(TransportError):  # too big before login: dropped
                await ch.send(Hello(role="agent", node_id="a", credential=b"x" * 100_000))
                await ch.receive()
            await ch.aclose()
            async with await carrier.connect(url) as ch:
                await ch.send(Hello(role="agent", node_id="a", credential=b"ok"))
                assert isinstance(await ch.receive(), Welcome)
                big = Hello(role="agent", node_id="b", credential=b"z" * 100_000)
                await ch.send(big)
                assert await ch.receive() == big
        nursery.cancel_scope.cancel()
