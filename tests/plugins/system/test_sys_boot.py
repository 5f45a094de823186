"""sys.boot: boot id and time from the kernel; the reboot-required flag on a temp file."""

from __future__ import annotations

import platform

import psutil

from agent_core.testing import run_action
from plugins.system import boot as boot_mod


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read().strip()



async def test_boot_identity():
    out = await run_action("sys.boot")
    assert out.ok, out.message
    v = out.value
    assert v["boot_id"] == _read("/proc/sys/kernel/random/boot_id")
    assert abs(v["boot_time"] - psutil.boot_time()) < 2
    assert v["kernel_running"] == platform.release()
    assert v["init"] == _read("/proc/1/comm")
    assert v["kernels_installed"] == boot_mod.installed_kernels()
    assert v["kernel_update_pending"] is False or v["kernel_newest"] != v["kernel_running"]


async def test_reboot_required_flag(tmp_path, monkeypatch):
    flag = tmp_path / "reboot-required"
    monkeypatch.setattr(boot_mod, "REBOOT_REQUIRED", str(flag))
    out = await run_action("sys.boot")
    assert out.ok and out.value["reboot_required"] is False
    flag.write_text("*** System restart required ***\n")
    (tmp_path / "reboot-required.pkgs").write_text("linux-image-amd64\nlibc6\nlibc6\n")
    out = await run_action("sys.boot")
    assert out.value["reboot_required"] is True
    assert out.value["reboot_required_by"] == ["libc6", "linux-image-amd64"]


def test_kernel_version_order():
    key = boot_mod._version_key
    assert key("6.1.0-18-amd64") > key("6.1.0-9-amd64")
    assert key("5.15.0-101-generic") > key("5.4.0-200-generic")


async def test_boot_bad_params():
    assert (await run_action("sys.boot", {"history": True})).code == "A002"
