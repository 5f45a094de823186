"""svc.enable / svc.disable (systemd backend, offline on a unit tree under a root
directory: systemctl --root needs no running systemd) and svc.boot.state / mask / unmask."""

from __future__ import annotations

import os

import pytest

from agent_core.testing import needs, run_action

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


@needs("systemctl")
async def test_enable_disable_offline(root):
    link = root / "etc/systemd/system/multi-user.target.wants/demo.service"
    out = await run_action("svc.boot.state", {"unit": "demo", "root": str(root)})
    assert out.ok and out.value == {"unit": "demo.service", "state": "disabled"}

    out = await run_action("svc.enable", {"name": "demo", "root": str(root)})
    assert out.ok, out.message
    v = out.value
    assert (v["name"], v["backend"], v["enabled"], v["changed"]) == (
        "demo.service",
        "systemd",
        "enabled",
        True,
    )
    assert link.is_symlink() and any("Created symlink" in c for c in v["changes"])
    out = await run_action("svc.enable", {"name": "demo", "root": str(root)})
    assert out.ok and out.value["changed"] is False

    out = await run_action("svc.disable", {"name": "demo.service", "root": str(root)})
    assert out.ok and out.value["enabled"] == "disabled" and not link.is_symlink()
    assert any("Removed" in c for c in out.value["changes"])

    out = await run_action("svc.boot.state", {"unit": "static", "root": str(root)})
    assert out.ok and out.value["state"] == "static"


@needs("systemctl")
async def test_mask_unmask_offline(root):
    mask = root / "etc/systemd/system/vendor.service"
    out = await run_action("svc.boot.mask", {"unit": "vendor", "root": str(root)})
    assert out.ok, out.message
    assert out.value["enabled"] == "masked" and os.readlink(mask) == "/dev/null"
    out = await run_action("svc.boot.unmask", {"unit": "vendor", "root": str(root)})
    assert out.ok and out.value["enabled"] == "disabled" and not mask.is_symlink()
    # A unit whose file lives in /etc cannot be masked over: systemd refuses.
    out = await run_action("svc.boot.mask", {"unit": "demo", "root": str(root)})
    assert out.code == "A014"


@needs("systemctl")
async def test_boot_missing_unit_and_bad_params(root, tmp_path):
    assert (await run_action("svc.enable", {"name": "nope", "root": str(root)})).code == "A017"
    assert (await run_action("svc.boot.state", {"unit": "nope", "root": str(root)})).code == "A017"
    assert (await run_action("svc.enable", {"name": "demo", "root": "relative/dir"})).code == "A002"
    assert (
        await run_action("svc.enable", {"name": "demo", "root": str(tmp_path / "missing")})
    ).code == "A017"
    out = await run_action("svc.enable", {"name": "demo", "root": str(root), "now": True})
    assert out.code == "A002" and "another root" in out.message
    out = await run_action("svc.disable", {"name": "demo", "root": str(root), "backend": "sysv"})
    assert out.code == "A002" and "only the systemd backend" in out.message
    assert (await run_action("svc.disable", {"name": "demo", "force": True})).code == "A002"
    assert (await run_action("svc.boot.mask", {"unit": "-H", "root": str(root)})).code == "A002"


async def test_offline_enable_without_systemctl(hidden_tools, root):
    out = await hidden_tools("systemctl")("svc.enable", {"name": "demo", "root": str(root)})
    assert out.code == "A003" and "systemctl" in out.message


async def test_boot_state_mask_unmask_live(systemd_host):
    # The running systemd (no root): a runtime unit masked by a /dev/null link in /etc.
    run_action = systemd_host.run_action
    with systemd_host.temp_unit(install=True) as unit:
        mask = systemd_host.path(f"/etc/systemd/system/{unit}")
        out = await run_action("svc.boot.state", {"unit": unit})
        assert out.ok and out.value == {"unit": unit, "state": "disabled"}
        out = await run_action("svc.boot.mask", {"unit": unit})
        assert out.ok, out.message
        assert out.value["enabled"] == "masked" and os.readlink(mask) == "/dev/null"
        assert systemd_host.systemctl("is-enabled", unit, check=False).stdout.strip() == "masked"
        out = await run_action("svc.start", {"name": unit})
        assert out.code == "A014" and "masked" in out.message  # a masked unit does not start
        out = await run_action("svc.boot.unmask", {"unit": unit})
        assert out.ok and out.value["enabled"] == "disabled" and not mask.is_symlink()
        assert (await run_action("svc.start", {"name": unit})).ok
