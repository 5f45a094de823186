"""sys.pressure against /proc/pressure read around the call."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent_core.testing import run_action
from plugins.system.pressure import parse_psi

HAVE_PSI = os.path.isdir("/proc/pressure")


def _totals() -> dict[str, int]:
    return {p.name: parse_psi(p.read_text())["some"].total_us for p in Path("/proc/pressure").iterdir()}


async def test_pressure_matches_proc():
    if not HAVE_PSI:
        out = await run_action("sys.pressure")
        assert out.code == "A003"
        pytest.skip("/proc/pressure absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    before = _totals()
    out = await run_action("sys.pressure", {"threshold": 0})
    after = _totals()
    assert out.ok, out.message
    names = [r["name"] for r in out.value["resources"]]
    assert set(names) == set(before)
    for r in out.value["resources"]:
        assert before[r["name"]] <= r["some"]["total_us"] <= after[r["name"]]
        assert 0 <= r["some"]["avg10"] <= 100
    # With threshold 0 every resource with any recent stall is listed, and only those.
    assert out.value["over_threshold"] == [r["name"] for r in out.value["resources"] if r["some"]["avg10"] > 0]


@pytest.mark.parametrize("params", [{"threshold": 101}, {"threshold": -1}, {"resource": "cpu"}])
async def test_pressure_bad_params(params):
    if not HAVE_PSI:
        pytest.skip("kernel without PSI (/proc/pressure)")
    assert (await run_action("sys.pressure", params)).code == "A002"
