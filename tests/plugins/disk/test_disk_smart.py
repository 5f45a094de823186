"""disk.smart with the real smartctl (A003 without it); the JSON mapping on smartctl's format."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from agent_core.testing import run_action
from plugins.disk.smart import decode_exit, is_failing, parse_smartctl

HAVE_SMARTCTL = shutil.which("smartctl") is not None


def _scan() -> list[str]:
    res = subprocess.run(["smartctl", "--json", "--scan-open"], capture_output=True, text=True)
    return [d["name"] for d in json.loads(res.stdout).get("devices", [])]


def _first_disk() -> str:
    names = sorted(n for n in os.listdir("/sys/block") if not n.startswith(("loop", "ram", "zram")))
    return f"/dev/{names[0]}"


def _smartctl_json(disk: str) -> dict:
    return json.loads(subprocess.run(["smartctl", "--json", "-a", "-d", "auto", disk], capture_output=True, text=True).stdout)


async def test_scan_matches_smartctl():
    out = await run_action("disk.smart")
    if not HAVE_SMARTCTL:
        assert out.code == "A003" and "smartctl" in out.message
        pytest.skip("smartctl absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    assert out.ok, out.message
    assert [d["device"] for d in out.value["devices"]] == _scan()


async def test_one_device_with_real_smartctl():
    if not HAVE_SMARTCTL:
        pytest.skip("smartctl (smartmontools) not installed")
    disk = _first_disk()
    out = await run_action("disk.smart", {"device": disk})
    assert out.ok, out.message
    (d,) = out.value["devices"]
    ref = _smartctl_json(disk)
    assert d["exit_status"] == ref["smartctl"]["exit_status"]
    assert d["status"] == decode_exit(d["exit_status"])
    assert d["model"] == ref.get("model_name", ref.get("scsi_model_name", ""))


def test_parse_ata_and_nvme_documents():
    ata = {
        "smartctl": {"exit_status": 8 | 64},
        "device": {"type": "sat"},
        "model_name": "WDC WD40EFRX", "serial_number": "WD-123", "user_capacity": {"bytes": 4000787030016},
        "smart_status": {"passed": False}, "temperature": {"current": 41}, "power_on_time": {"hours": 40000},
        "ata_smart_attributes": {"table": [{"id": 5, "raw": {"value": 24}}, {"id": 197, "raw": {"value": 3}}, {"id": 9, "raw": {"value": 40000}}]},
    }  # fmt: skip
    d = parse_smartctl("/dev/sda", "auto", ata)
    assert (d.type, d.model, d.passed, d.temperature, d.reallocated, d.pending, d.offline_uncorrectable) == ("sat", "WDC WD40EFRX", False, 41, 24, 3, None)
    assert d.status == ["disk failing (health check FAILED)", "device error log has errors"]
    assert is_failing(d)
    nvme = {"smartctl": {"exit_status": 0}, "smart_status": {"passed": True},
            "nvme_smart_health_information_log": {"percentage_used": 7, "media_errors": 0, "available_spare": 100, "critical_warning": 0}}  # fmt: skip
    n = parse_smartctl("/dev/nvme0", "nvme", nvme)
    assert (n.percentage_used, n.media_errors, n.available_spare) == (7, 0, 100) and not is_failing(n)


@pytest.mark.parametrize(
    ("params", "code"),
    [({"device": "/dev/no_such_disk"}, "A017"), ({"device": "/etc/passwd"}, "A002"), ({"device": "/dev/../etc/passwd"}, "A002"),
     ({"device": "/dev/null", "type": "floppy"}, "A002"), ({"devices": []}, "A002")],
)  # fmt: skip
async def test_smart_bad_params(params, code):
    out = await run_action("disk.smart", params)
    if not HAVE_SMARTCTL:
        pytest.skip("smartctl absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    assert out.code == (code)
