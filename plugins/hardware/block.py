"""Block devices from sysfs: size, model, serial, rotational, scheduler, partitions, stacking.

``hw.block`` describes every disk in ``/sys/block`` without any tool: size,
vendor, model, serial and firmware where the driver exposes them, the
transport (nvme, scsi/sata, virtio, mmc, ...), rotational or solid state,
removable and read-only flags, logical and physical sector sizes, discard
(TRIM) support, the active I/O scheduler and read-ahead, the write cache
mode, its partitions, and what is stacked on it (``holders``: LVM, md,
dm-crypt). Loop, ram and zram devices are left out unless ``virtual``. Reads
only.
"""

from __future__ import annotations

import os

import msgspec

from agent_core import ActionContext, NotFound, Plugin, Risk, action
from agent_core.procfs import listdir, read, read_int, selected

PLUGIN = Plugin("hw.block", domain="hardware", requires_files=["/sys/block"])

SYS_BLOCK = "/sys/block"
VIRTUAL_PREFIXES = ("loop", "ram", "zram", "nbd")
SECTOR = 512  # sysfs sizes are always in 512-byte units, whatever the device's sector size


class Params(msgspec.Struct, forbid_unknown_fields=True):
    device: str | None = None
    virtual: bool = False


class Partition(msgspec.Struct):
    name: str
    number: int | None
    start: int
    size: int
    read_only: bool


class BlockDevice(msgspec.Struct):
    name: str
    dev: str
    size: int
    transport: str
    vendor: str
    model: str
    serial: str
    firmware: str
    rotational: bool
    removable: bool
    read_only: bool
    logical_sector: int
    physical_sector: int
    discard: bool
    scheduler: str
    read_ahead_kb: int | None
    write_cache: str
    partitions: list[Partition]
    holders: list[str]
    slaves: list[str]
    virtual: bool


class BlockDevices(msgspec.Struct):
    devices: list[BlockDevice]


def transport_of(name: str) -> str:
    """Guess the bus from the device's driver path (``.../nvme/...``, ``.../virtio1/...``)."""
    try:
        path = os.path.realpath(f"{SYS_BLOCK}/{name}/device")
    except OSError:
        path = ""
    for marker, kind in (("/nvme", "nvme"), ("/virtio", "virtio"), ("/mmc", "mmc"), ("/usb", "usb"),
                         ("/ata", "sata"), ("/host", "scsi"), ("/xen", "xen")):  # fmt: skip
        if marker in path:
            return kind
    if name.startswith(("md", "dm-")):
        return "virtual"
    if name.startswith(VIRTUAL_PREFIXES):
        return name.rstrip("0123456789")
    return "unknown"


def _serial(d: str) -> str:
    for path in (f"{d}/serial", f"{d}/device/serial", f"{d}/device/wwid", f"{d}/wwid"):
        value = (read(path) or "").strip()
        if value:
            return value
    return ""


def describe(name: str) -> BlockDevice:
    d = f"{SYS_BLOCK}/{name}"
    q = f"{d}/queue"
    parts = []
    for entry in listdir(d):
        if entry.startswith(name) and os.path.exists(f"{d}/{entry}/partition"):
            parts.append(
                Partition(
                    name=entry,
                    number=read_int(f"{d}/{entry}/partition"),
                    start=(read_int(f"{d}/{entry}/start") or 0) * SECTOR,
                    size=(read_int(f"{d}/{entry}/size") or 0) * SECTOR,
                    read_only=read(f"{d}/{entry}/ro") == "1",
                )
            )
    parts.sort(key=lambda part: part.number or 0)
    return BlockDevice(
        name=name,
        dev=read(f"{d}/dev") or "",
        size=(read_int(f"{d}/size") or 0) * SECTOR,
        transport=transport_of(name),
        vendor=(read(f"{d}/device/vendor") or "").strip(),
        model=(read(f"{d}/device/model") or "").strip(),
        serial=_serial(d),
        firmware=(read(f"{d}/device/firmware_rev") or read(f"{d}/device/rev") or "").strip(),
        rotational=read(f"{q}/rotational") == "1",
        removable=read(f"{d}/removable") == "1",
        read_only=read(f"{d}/ro") == "1",
        logical_sector=read_int(f"{q}/logical_block_size") or SECTOR,
        physical_sector=read_int(f"{q}/physical_block_size") or SECTOR,
        discard=(read_int(f"{q}/discard_max_bytes") or 0) > 0,
        scheduler=selected(read(f"{q}/scheduler")),
        read_ahead_kb=read_int(f"{q}/read_ahead_kb"),
        write_cache=read(f"{q}/write_cache") or "",
        partitions=parts,
        holders=listdir(f"{d}/holders"),
        slaves=listdir(f"{d}/slaves"),
        virtual=name.startswith(VIRTUAL_PREFIXES),
    )


def device_names(device: str | None, virtual: bool) -> list[str]:
    names = listdir(SYS_BLOCK)
    if device is not None:
        name = device.removeprefix("/dev/")
        if "/" in name or name not in names:
            raise NotFound(f"no block device {device!r} in {SYS_BLOCK}")
        return [name]
    return [n for n in names if virtual or not n.startswith(VIRTUAL_PREFIXES)]


@action("hw.block", risk=Risk.READ, timeout=15)
async def block(ctx: ActionContext, p: Params) -> BlockDevices:
    """Every disk (or one ``device``) with size, identity, media type, queue settings, partitions and holders."""
    return BlockDevices(devices=[describe(name) for name in device_names(p.device, p.virtual)])
