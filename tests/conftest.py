"""Fixtures shared by every test directory."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable

import pytest

# Agents started by tests (real processes, through `starling up` or directly)
# share a loaded 2-core machine with other suites: under that load their
# throttle would rightly defer tasks, and tests about other things would wait
# on it. The throttle has its own tests (tests/agent/test_throttle.py, fake
# probe and MockClock); everywhere else it is off unless a test sets it.
os.environ.setdefault("STARLING_AGENT_MAX_CPU_PRESSURE", "0")
os.environ.setdefault("STARLING_AGENT_MAX_LOAD_PER_CPU", "0")


def _make_wheel(version: str, greeting: str) -> bytes:
    """A real (pure-Python) wheel of a third-party plugin package that is not
    installed anywhere: ``starling-wheeltest``, plugin ``wheeltest``, action
    ``wheeltest.hello`` returning ``{"text": greeting}``."""
    module = f'''
import msgspec
from agent_core import NoParams, Plugin, Risk, action

class Out(msgspec.Struct):
    text: str

@action("wheeltest.hello", risk=Risk.READ, timeout=5)
async def hello(ctx, p: NoParams) -> Out:
    """Say hello."""
    return Out(text={greeting!r})

PLUGIN = Plugin("wheeltest", description="test plugin")
'''
    dist = f"starling_wheeltest-{version}.dist-info"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("starling_wheeltest/__init__.py", "")
        zf.writestr("starling_wheeltest/plugin.py", module)
        zf.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: starling-wheeltest\nVersion: {version}\n")
        zf.writestr(f"{dist}/entry_points.txt", "[starling.plugins]\nwheeltest = starling_wheeltest.plugin\n")
        zf.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{dist}/RECORD", "")
    return buf.getvalue()


@pytest.fixture
def make_wheel() -> Callable[[str, str], bytes]:
    return _make_wheel
