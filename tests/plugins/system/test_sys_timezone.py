"""sys.timezone: read the real zone; set it for real on temp copies of the config files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from agent_core.testing import run_action
from plugins.system import timezone as tz


def _link(path: str) -> str:
    return os.readlink(path) if os.path.islink(path) else ""



async def test_get_matches_system():
    out = await run_action("sys.timezone.get")
    assert out.ok, out.message
    v = out.value
    link = _link("/etc/localtime")
    assert v["localtime_link"] == link
    if link:
        assert link.endswith("/" + v["zone"])
    now = time.localtime()
    assert v["utc_offset"] == now.tm_gmtoff and v["abbreviation"] == now.tm_zone


@pytest.fixture
def etc(tmp_path, monkeypatch):
    """Point the plugin at a private /etc/localtime and /etc/timezone."""
    localtime = tmp_path / "localtime"
    localtime.symlink_to(f"{tz.ZONEINFO}/Etc/UTC")
    tzfile = tmp_path / "timezone"
    tzfile.write_text("Etc/UTC\n")
    monkeypatch.setattr(tz, "LOCALTIME", str(localtime))
    monkeypatch.setattr(tz, "TIMEZONE_FILE", str(tzfile))
    return tmp_path


async def test_set_repoints_link_and_file(etc):
    out = await run_action("sys.timezone.set", {"zone": "Europe/Berlin"})
    assert out.ok, out.message
    assert out.value["old"] == "Etc/UTC" and out.value["changed"]
    assert os.readlink(etc / "localtime") == f"{tz.ZONEINFO}/Europe/Berlin"
    assert (etc / "timezone").read_text() == "Europe/Berlin\n"
    out = await run_action("sys.timezone.get")
    assert out.value["zone"] == "Europe/Berlin" and out.value["consistent"]
    again = await run_action("sys.timezone.set", {"zone": "Europe/Berlin"})
    assert again.ok and again.value["changed"] is False and again.value["steps"] == []


async def test_set_dry_run_leaves_files(etc):
    out = await run_action("sys.timezone.set", {"zone": "Asia/Tokyo", "dry_run": True})
    assert out.ok and out.value["dry_run"] and len(out.value["steps"]) == 2
    assert os.readlink(etc / "localtime").endswith("Etc/UTC")
    assert (etc / "timezone").read_text() == "Etc/UTC\n"


async def test_inconsistent_files_are_reported(etc):
    (etc / "timezone").write_text("America/New_York\n")
    out = await run_action("sys.timezone.get")
    assert out.value["zone"] == "Etc/UTC" and out.value["consistent"] is False


@pytest.mark.parametrize(
    ("zone", "code"),
    [("../../etc/passwd", "A002"), ("/etc/passwd", "A002"), ("Mars/Olympus_Mons", "A017"), ("Europe", "A017")],
)
async def test_set_rejects_bad_zones(etc, zone, code):
    out = await run_action("sys.timezone.set", {"zone": zone})
    assert out.code == code, out.message
    assert Path(os.readlink(etc / "localtime")).name == "UTC"


async def test_bad_params():
    assert (await run_action("sys.timezone.set", {"zone": "UTC", "now": 1})).code == "A002"
