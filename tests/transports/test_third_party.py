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
