"""GPUs: model, driver, memory, utilisation, temperature and power, via nvidia-smi or sysfs.

``hw.gpu`` asks ``nvidia-smi`` when it is installed (one CSV query: name, UUID,
serial, PCI bus id, driver version, memory total/used, utilisation,
temperature, power draw and limit, uncorrected ECC errors) and otherwise reads
the DRM cards in ``/sys/class/drm`` (vendor, device, driver, and for amdgpu
the VRAM use, busy percentage and temperature). ``nvidia-smi`` failing while
NVIDIA cards are on the PCI bus is reported as a driver problem, the usual
state after a kernel update. Unavailable without either source. Reads only.
"""

from __future__ import annotations

import os
import shutil

import msgspec

from agent_core import (
    ActionContext,
    NoParams,
    NotFound,
    Plugin,
    Risk,
    action,
)
from agent_core.procfs import listdir, read, read_int

DRM = "/sys/class/drm"
NVIDIA_FIELDS = (
    "index", "name", "uuid", "serial", "pci.bus_id", "driver_version", "memory.total", "memory.used",
    "utilization.gpu", "temperature.gpu", "power.draw", "power.limit", "ecc.errors.uncorrected.volatile.total",
)  # fmt: skip
VENDORS = {"0x10de": "nvidia", "0x1002": "amd", "0x8086": "intel", "0x1a03": "aspeed", "0x102b": "matrox", "0x1af4": "virtio"}


def drm_cards(root: str = DRM) -> list[str]:
    return [n for n in listdir(root) if n.startswith("card") and n[4:].isdigit()]


def _check() -> str | None:
    """`nvidia-smi` on PATH, or a DRM card in `/sys/class/drm`."""
    if shutil.which("nvidia-smi") or drm_cards():
        return None
    return "no nvidia-smi and no DRM graphics card in /sys/class/drm"


PLUGIN = Plugin("hw.gpu", domain="hardware", check=_check)


class Gpu(msgspec.Struct):
    index: int
    name: str
    vendor: str
    driver: str
    pci_address: str
    uuid: str = ""
    serial: str = ""
    driver_version: str = ""
    memory_total: int | None = None
    memory_used: int | None = None
    utilization: float | None = None
    temperature: float | None = None
    power_draw: float | None = None
    power_limit: float | None = None
    ecc_uncorrected: int | None = None


class Gpus(msgspec.Struct):
    source: str
    gpus: list[Gpu]
    problems: list[str]


def _num(value: str) -> float | None:
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        return None  # "[N/A]", "[Not Supported]"


def parse_nvidia_csv(text: str) -> list[Gpu]:
    """Rows of ``nvidia-smi --query-gpu=<NVIDIA_FIELDS> --format=csv,noheader,nounits``."""
    gpus = []
    for line in text.splitlines():
        cols = [c.strip() for c in line.split(",")]
        if len(cols) != len(NVIDIA_FIELDS):
            continue
        f = dict(zip(NVIDIA_FIELDS, cols, strict=True))
        mib = 1024 * 1024
        total, used, ecc = _num(f["memory.total"]), _num(f["memory.used"]), _num(f["ecc.errors.uncorrected.volatile.total"])
        gpus.append(
            Gpu(
                index=int(f["index"]),
                name=f["name"],
                vendor="nvidia",
                driver="nvidia",
                pci_address=f["pci.bus_id"].lower().replace("00000000:", "0000:"),
                uuid=f["uuid"],
                serial="" if f["serial"].startswith("[") else f["serial"],
                driver_version=f["driver_version"],
                memory_total=int(total * mib) if total is not None else None,
                memory_used=int(used * mib) if used is not None else None,
                utilization=_num(f["utilization.gpu"]),
                temperature=_num(f["temperature.gpu"]),
                power_draw=_num(f["power.draw"]),
                power_limit=_num(f["power.limit"]),
                ecc_uncorrected=int(ecc) if ecc is not None else None,
            )
        )
    return gpus


def read_drm(root: str = DRM) -> list[Gpu]:
    gpus = []
    for n, card in enumerate(sorted(drm_cards(root), key=lambda c: int(c[4:]))):
        dev = os.path.join(root, card, "device")
        try:
            driver = os.path.basename(os.readlink(f"{dev}/driver"))
        except OSError:
            driver = ""
        try:
            address = os.path.basename(os.path.realpath(dev))
        except OSError:
            address = ""
        vendor = (read(f"{dev}/vendor") or "").lower()
        temp = None
        for hw in listdir(f"{dev}/hwmon"):
            milli = read_int(f"{dev}/hwmon/{hw}/temp1_input")
            if milli is not None:
                temp = milli / 1000.0
                break
        busy = read_int(f"{dev}/gpu_busy_percent")
        gpus.append(
            Gpu(
                index=n,
                name=f"{VENDORS.get(vendor, vendor)} {(read(f'{dev}/device') or '').lower()}".strip(),
                vendor=VENDORS.get(vendor, vendor),
                driver=driver,
                pci_address=address,
                memory_total=read_int(f"{dev}/mem_info_vram_total"),
                memory_used=read_int(f"{dev}/mem_info_vram_used"),
                utilization=float(busy) if busy is not None else None,
                temperature=temp,
            )
        )
    return gpus


def _nvidia_on_pci() -> bool:
    return any(read(f"/sys/bus/pci/devices/{d}/vendor") == "0x10de" and (read(f"/sys/bus/pci/devices/{d}/class") or "").startswith("0x03")
               for d in listdir("/sys/bus/pci/devices"))  # fmt: skip


@action("hw.gpu", risk=Risk.READ, timeout=30)
async def gpu(ctx: ActionContext, p: NoParams) -> Gpus:
    """GPU model, driver, memory, utilisation, temperature and power (nvidia-smi, else DRM sysfs)."""
    problems: list[str] = []
    if shutil.which("nvidia-smi"):
        res = await ctx.run(["nvidia-smi", f"--query-gpu={','.join(NVIDIA_FIELDS)}", "--format=csv,noheader,nounits"])
        if res.exit_code == 0:
            return Gpus(source="nvidia-smi", gpus=parse_nvidia_csv(res.stdout), problems=problems)
        problems.append(f"nvidia-smi exited {res.exit_code}: {(res.stdout + res.stderr).strip()[:300]}")
    gpus = read_drm()
    if _nvidia_on_pci() and not any(g.driver == "nvidia" for g in gpus):
        problems.append("NVIDIA display controller on the PCI bus but the nvidia driver is not bound")
    if not gpus and not problems:
        raise NotFound("no GPU found")
    return Gpus(source="sysfs", gpus=gpus, problems=problems)
