"""hw.gpu: nvidia-smi or DRM on the real host (A003 without either); parsers on their real formats."""

from __future__ import annotations

import os
import shutil

import pytest

from agent_core.testing import run_action
from plugins.hardware import gpu as mod

HAVE_GPU = shutil.which("nvidia-smi") is not None or bool(mod.drm_cards())


async def test_gpu_on_this_host():
    out = await run_action("hw.gpu")
    if not HAVE_GPU:
        assert out.code == "A003" and "nvidia-smi" in out.message
        pytest.skip("a GPU (nvidia-smi or a DRM card) absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    assert out.ok or out.code == "A017", out.message
    if out.ok and out.value["source"] == "sysfs":
        assert len(out.value["gpus"]) == len(mod.drm_cards())


def test_parse_nvidia_csv():
    text = (
        "0, NVIDIA A100-SXM4-80GB, GPU-6a1b, 1323321012345, 00000000:07:00.0, 535.104.05, 81920, 1024, 37, 41, 62.10, 400.00, 0\n"
        "1, Tesla T4, GPU-77ff, [N/A], 00000000:3B:00.0, 535.104.05, 15360, 0, 0, 30, [N/A], 70.00, [N/A]\n"
        "malformed line\n"
    )
    a, t = mod.parse_nvidia_csv(text)
    assert (a.index, a.name, a.pci_address, a.memory_total, a.utilization, a.ecc_uncorrected) == (
        0, "NVIDIA A100-SXM4-80GB", "0000:07:00.0", 81920 * 1024 * 1024, 37.0, 0,
    )  # fmt: skip
    assert (t.serial, t.power_draw, t.ecc_uncorrected, t.power_limit) == ("", None, None, 70.0)


def test_read_drm_tree(tmp_path):
    pci = tmp_path / "devices" / "0000:03:00.0"
    (pci / "hwmon" / "hwmon4").mkdir(parents=True)
    (pci / "vendor").write_text("0x1002\n")
    (pci / "device").write_text("0x73bf\n")
    (pci / "mem_info_vram_total").write_text(str(16 * 1024**3))
    (pci / "mem_info_vram_used").write_text(str(1024**3))
    (pci / "gpu_busy_percent").write_text("12\n")
    (pci / "hwmon" / "hwmon4" / "temp1_input").write_text("51000\n")
    drv = tmp_path / "drivers" / "amdgpu"
    drv.mkdir(parents=True)
    (pci / "driver").symlink_to(drv)
    drm = tmp_path / "drm"
    (drm / "card0").mkdir(parents=True)
    (drm / "card0" / "device").symlink_to(pci)
    (drm / "card0-DP-1").mkdir()  # connectors are not cards
    (g,) = mod.read_drm(str(drm))
    assert (g.vendor, g.driver, g.pci_address, g.memory_total, g.memory_used, g.utilization, g.temperature) == (
        "amd", "amdgpu", "0000:03:00.0", 16 * 1024**3, 1024**3, 12.0, 51.0,
    )  # fmt: skip
    assert os.path.basename(os.path.realpath(drm / "card0" / "device")) == g.pci_address


async def test_gpu_bad_params():
    out = await run_action("hw.gpu", {"index": 0})
    if not HAVE_GPU:
        pytest.skip("a GPU (nvidia-smi or a DRM card) absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    assert out.code == "A002"
