from __future__ import annotations

import shutil
import subprocess

import pytest

from agent_core.testing import run_action


def _rpm_count() -> int:
    res = subprocess.run(["rpm", "-qa"], capture_output=True, text=True, check=True)
    return len([ln for ln in res.stdout.splitlines() if ln.strip()])


async def test_rpm_list_test_root(rpm_root):
    out = await run_action("rpm.list", {"root": str(rpm_root)})
    assert out.ok, out.message
    assert [(p["name"], p["evr"], p["arch"]) for p in out.value["packages"]] == [
        ("starling-demo", "1.2-3", "noarch")
    ]
    assert (
        out.value["count"] == 1 and out.value["total_size"] == out.value["packages"][0]["size"] > 0
    )
    out = await run_action("rpm.list", {"root": str(rpm_root), "recent": 5})
    assert [p["name"] for p in out.value["packages"]] == ["starling-demo"]
    out = await run_action("rpm.list", {"root": str(rpm_root), "pattern": "nothing*"})
    assert out.ok and out.value["packages"] == []


async def test_rpm_list_host_database():
    out = await run_action("rpm.list", {})
    if shutil.which("rpm") is None:
        assert out.code == "A003"
        pytest.skip("rpm absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    assert out.ok and out.value["count"] == _rpm_count()


async def test_rpm_list_bad_params():
    if not (shutil.which('rpm')):
        pytest.skip("rpm absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    expected = "A002"
    assert (await run_action("rpm.list", {"recent": 0})).code == expected
    assert (await run_action("rpm.list", {"pattern": "--all"})).code == expected
