from __future__ import annotations

import os
import shutil

import pytest

from agent_core.testing import run_action

UNIT = "[Unit]\nDescription=Demo\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"


@pytest.fixture
def root(tmp_path):
    etc = tmp_path / "etc/systemd/system"
    lib = tmp_path / "usr/lib/systemd/system"
    etc.mkdir(parents=True)
    lib.mkdir(parents=True)
    (etc / "demo.service").write_text(UNIT)
    (lib / "vendor.service").write_text(UNIT)
    (lib / "static.service").write_text("[Service]\nExecStart=/bin/true\n")
    return tmp_path


async def test_enable_disable_offline(root):
    if shutil.which("systemctl") is None:
        assert (
            await run_action("svc.boot.state", {"unit": "demo", "root": str(root)})
        ).code == "A003"
        pytest.skip("systemctl absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    link = root / "etc/systemd/system/multi-user.target.wants/demo.service"
    out = await run_action("svc.boot.state", {"unit": "demo", "root": str(root)})
    assert out.ok and out.value == {"unit": "demo.service", "state": "disabled"}

    out = await run_action("svc.boot.enable", {"unit": "demo", "root": str(root)})
    assert out.ok, out.message
    assert out.value["state"] == "enabled" and out.value["changed"] and link.is_symlink()
    assert any("Created symlink" in c for c in out.value["changes"])
    out = await run_action("svc.boot.enable", {"unit": "demo", "root": str(root)})
    assert out.ok and out.value["changed"] is False

    out = await run_action("svc.boot.disable", {"unit": "demo.service", "root": str(root)})
    assert out.ok and out.value["state"] == "disabled" and not link.is_symlink()
    assert any("Removed" in c for c in out.value["changes"])

    out = await run_action("svc.boot.state", {"unit": "static", "root": str(root)})
    assert out.ok and out.value["state"] == "static"


async def test_mask_unmask_offline(root):
    if shutil.which("systemctl") is None:
        pytest.skip("systemctl absent on this host: the real path is not exercised here")
    mask = root / "etc/systemd/system/vendor.service"
    out = await run_action("svc.boot.mask", {"unit": "vendor", "root": str(root)})
    assert out.ok, out.message
    assert out.value["state"] == "masked" and os.readlink(mask) == "/dev/null"
    out = await run_action("svc.boot.unmask", {"unit": "vendor", "root": str(root)})
    assert out.ok and out.value["state"] == "disabled" and not mask.is_symlink()
    # A unit whose file lives in /etc cannot be masked over: systemd refuses.
    out = await run_action("svc.boot.mask", {"unit": "demo", "root": str(root)})
    assert out.code == "A014"


async def test_boot_missing_unit_and_bad_params(root, tmp_path):
    if not (shutil.which('systemctl')):
        pytest.skip("systemctl absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    expected_missing = "A017"
    assert (
        await run_action("svc.boot.enable", {"unit": "nope", "root": str(root)})
    ).code == expected_missing
    assert (
        await run_action("svc.boot.state", {"unit": "nope", "root": str(root)})
    ).code == expected_missing
    assert (await run_action("svc.boot.enable", {"unit": "demo", "root": "relative/dir"})).code in (
        "A002",
        "A003",
    )
    assert (
        await run_action("svc.boot.enable", {"unit": "demo", "root": str(tmp_path / "missing")})
    ).code in ("A017", "A003")
    out = await run_action("svc.boot.enable", {"unit": "demo", "root": str(root), "now": True})
    assert out.code in ("A002", "A003")
    assert (await run_action("svc.boot.disable", {"unit": "demo", "force": True})).code == "A002"
