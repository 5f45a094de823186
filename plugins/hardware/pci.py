"""PCI devices: class, vendor and device names, driver, NUMA node, PCIe link health.

``hw.pci`` walks ``/sys/bus/pci/devices`` (no ``lspci`` needed): address,
class, vendor/device and subsystem ids with their names from the ``pci.ids``
database when it is installed, the bound kernel driver (an unbound NIC or
HBA is a frequent "disk/NIC missing" cause), NUMA node, IOMMU group, and for
PCIe devices the negotiated link speed and width against the maximum:
``degraded`` marks cards that trained below their capability (bad riser, wrong
slot). ``kind`` filters by class (``network``, ``storage``, ``display``, ...).
Reads only.
"""

from __future__ import annotations

import os

import msgspec

from agent_core import (
    ActionContext,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    action,
)
from agent_core.procfs import listdir, read

PLUGIN = Plugin("hw.pci", domain="hardware", requires_files=["/sys/bus/pci/devices"])

PCI_DEVICES = "/sys/bus/pci/devices"
PCI_IDS = ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids")
CLASSES = {
    0x00: "unclassified", 0x01: "storage", 0x02: "network", 0x03: "display", 0x04: "multimedia",
    0x05: "memory", 0x06: "bridge", 0x07: "communication", 0x08: "system", 0x09: "input",
    0x0A: "docking", 0x0B: "processor", 0x0C: "serial-bus", 0x0D: "wireless", 0x0E: "intelligent-io",
    0x0F: "satellite", 0x10: "encryption", 0x11: "signal-processing", 0x12: "accelerator",
    0x13: "instrumentation", 0x40: "coprocessor", 0xFF: "unassigned",
}  # fmt: skip


class Params(msgspec.Struct, forbid_unknown_fields=True):
    kind: str | None = None
    address: str | None = None


class PciDevice(msgspec.Struct):
    address: str
    kind: str
    class_code: str
    class_name: str
    vendor_id: str
    device_id: str
    vendor: str
    device: str
    subsystem_vendor_id: str
    subsystem_device_id: str
    revision: str
    driver: str
    numa_node: int | None
    iommu_group: str
    link_speed: str
    link_width: int | None
    max_link_speed: str
    max_link_width: int | None
    degraded: bool
    enabled: bool


class PciDevices(msgspec.Struct):
    devices: list[PciDevice]
    names_from: str


def _hex(value: str | None) -> str:
    return (value or "").lower().removeprefix("0x")


def _speed_gts(text: str) -> float:
    """``"8.0 GT/s PCIe"`` -> 8.0; unknown speeds sort lowest."""
    try:
        return float(text.split()[0])
    except (ValueError, IndexError):
        return 0.0


def lookup_names(pairs: set[tuple[str, str]], classes: set[tuple[str, str]]) -> tuple[str, dict]:
    """Names for (vendor, device) and (class, subclass) ids from the first pci.ids found."""
    path = next((p for p in PCI_IDS if os.path.exists(p)), "")
    names: dict = {}
    if not path:
        return "", names
    vendors = {v for v, _ in pairs}
    class_ids = {c for c, _ in classes}
    vendor = klass = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("C "):
                code, _, name = line[2:].strip().partition("  ")
                klass, vendor = (code if code in class_ids else None), None
                if klass:
                    names[("class", klass)] = name.strip()
            elif not line.startswith("\t"):
                code, _, name = line.strip().partition("  ")
                vendor, klass = (code if code in vendors else None), None
                if vendor:
                    names[("vendor", vendor)] = name.strip()
            elif line.startswith("\t\t"):
                continue  # subsystems: not needed
            elif vendor or klass:
                code, _, name = line.strip().partition("  ")
                if vendor and (vendor, code) in pairs:
                    names[("device", vendor, code)] = name.strip()
                elif klass and (klass, code) in classes:
                    names[("subclass", klass, code)] = name.strip()
    return path, names


def read_device(addr: str) -> PciDevice:
    d = f"{PCI_DEVICES}/{addr}"
    cls = _hex(read(f"{d}/class")).rjust(6, "0")
    try:
        driver = os.path.basename(os.readlink(f"{d}/driver"))
    except OSError:
        driver = ""
    try:
        group = os.path.basename(os.readlink(f"{d}/iommu_group"))
    except OSError:
        group = ""
    node = read(f"{d}/numa_node")
    speed, max_speed = read(f"{d}/current_link_speed") or "", read(f"{d}/max_link_speed") or ""
    width, max_width = read(f"{d}/current_link_width"), read(f"{d}/max_link_width")
    w = int(width) if width and width.isdigit() else None
    mw = int(max_width) if max_width and max_width.isdigit() else None
    return PciDevice(
        address=addr,
        kind=CLASSES.get(int(cls[:2], 16), "other"),
        class_code=cls,
        class_name="",
        vendor_id=_hex(read(f"{d}/vendor")),
        device_id=_hex(read(f"{d}/device")),
        vendor="",
        device="",
        subsystem_vendor_id=_hex(read(f"{d}/subsystem_vendor")),
        subsystem_device_id=_hex(read(f"{d}/subsystem_device")),
        revision=_hex(read(f"{d}/revision")),
        driver=driver,
        numa_node=int(node) if node and node.lstrip("-").isdigit() and int(node) >= 0 else None,
        iommu_group=group,
        link_speed=speed,
        link_width=w,
        max_link_speed=max_speed,
        max_link_width=mw,
        degraded=bool(speed and max_speed and _speed_gts(speed) < _speed_gts(max_speed))
        or bool(w and mw and w < mw),
        enabled=read(f"{d}/enable") != "0",
    )


def _devices(p: Params) -> PciDevices:
    addrs = listdir(PCI_DEVICES)
    if p.address is not None:
        full = p.address if p.address.count(":") == 2 else f"0000:{p.address}"
        if full not in addrs:
            raise NotFound(f"no PCI device at {p.address!r}")
        addrs = [full]
    devices = [read_device(a) for a in addrs]
    if p.kind is not None:
        devices = [dev for dev in devices if dev.kind == p.kind]
    path, names = lookup_names(
        {(dev.vendor_id, dev.device_id) for dev in devices}, {(dev.class_code[:2], dev.class_code[2:4]) for dev in devices}
    )
    for dev in devices:
        dev.vendor = names.get(("vendor", dev.vendor_id), "")
        dev.device = names.get(("device", dev.vendor_id, dev.device_id), "")
        dev.class_name = names.get(("subclass", dev.class_code[:2], dev.class_code[2:4])) or names.get(
            ("class", dev.class_code[:2]), dev.kind
        )
    return PciDevices(devices=devices, names_from=path)


@action("hw.pci", risk=Risk.READ, timeout=15)
async def pci(ctx: ActionContext, p: Params) -> PciDevices:
    """PCI devices with class, names, driver, NUMA node and PCIe link speed/width vs maximum."""
    if p.kind is not None and p.kind not in CLASSES.values() and p.kind != "other":
        raise InvalidParams(f"kind must be one of {', '.join(sorted(set(CLASSES.values())))}")
    return _devices(p)
