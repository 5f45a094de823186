from __future__ import annotations

import os
import shutil

import pytest

from agent_core.testing import run_action

INSTALL = "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"


@pytest.fixture
def root(tmp_path):
    lib = tmp_path / "usr/lib/systemd/system"
    etc = tmp_path / "etc/systemd/system"
    lib.mkdir(parents=True)
    (etc / "multi-user.target.wants").mkdir(parents=True)
    (lib / "on.service").write_text(INSTALL)
    (lib / "off.service").write_text(INSTALL)
    (lib / "fixed.service").write_text("[Service]\nExecStart=/bin/true\n")
    (lib / "hidden.service").write_text(INSTALL)
    (lib / "tick.timer").write_text(
        "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n"
    )
    os.symlink("/usr/lib/systemd/system/on.service", etc / "multi-user.target.wants/on.service")
    os.symlink("/dev/null", etc / "hidden.service")
    return tmp_path


async def test_unitfiles_states_offline(root):
    if shutil.which("systemctl") is None:
        assert (await run_action("svc.unitfiles", {"root": str(root)})).code == "A003"
        pytest.skip("systemctl absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    out = await run_action("svc.unitfiles", {"root": str(root), "type": "service"})
    assert out.ok, out.message
    states = {r["unit"]: r["state"] for r in out.value["unit_files"]}
    assert states == {
        "on.service": "enabled",
        "off.service": "disabled",
        "fixed.service": "static",
        "hidden.service": "masked",
    }
    assert out.value["by_state"] == {"enabled": 1, "disabled": 1, "static": 1, "masked": 1}
    out = await run_action("svc.unitfiles", {"root": str(root), "state": "enabled"})
    assert [r["unit"] for r in out.value["unit_files"]] == ["on.service"]
    out = await run_action("svc.unitfiles", {"root": str(root), "pattern": "tick*"})
    assert [r["unit"] for r in out.value["unit_files"]] == ["tick.timer"]
    out = await run_action("svc.unitfiles", {"root": str(root), "pattern": "nomatch*"})
    assert out.ok and out.value["unit_files"] == []


async def test_unitfiles_live(systemd_host):
    # The running systemd's unit files (no root): a runtime unit, disabled then enabled.
    with systemd_host.temp_unit(install=True) as unit:
        params = {"pattern": "starling-test-*", "type": "service"}
        out = await systemd_host.run_action("svc.unitfiles", params)
        assert out.ok, out.message
        assert {r["unit"]: r["state"] for r in out.value["unit_files"]} == {unit: "disabled"}
        systemd_host.systemctl("enable", unit)
        out = await systemd_host.run_action("svc.unitfiles", {**params, "state": "enabled"})
        assert [r["unit"] for r in out.value["unit_files"]] == [unit]


async def test_unitfiles_bad_params(tmp_path):
    if not (shutil.which('systemctl')):
        pytest.skip("systemctl absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    code = "A002"
    assert (await run_action("svc.unitfiles", {"type": "bogus"})).code == code
    assert (await run_action("svc.unitfiles", {"state": "Enabled!"})).code == code
    assert (await run_action("svc.unitfiles", {"root": str(tmp_path / "none")})).code in (
        "A017",
        "A003",
    )
