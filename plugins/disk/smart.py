"""SMART health of disks via smartctl: verdict, temperature, wear, reallocated and pending sectors.

``disk.smart`` runs ``smartctl --json -a`` on one ``device`` or on every
device ``smartctl --scan-open`` finds, and returns for each the model,
serial, firmware and capacity, the overall health verdict, temperature and
power-on hours, the ATA counters that predict failure (reallocated, pending
and offline-uncorrectable sectors, CRC errors) or the NVMe health log
(percentage used, media errors, spare, critical warning), and smartctl's exit
status decoded bit by bit. ``failing`` lists devices that failed their
verdict or have bad-sector counts. Reads only; needs smartmontools and root.
"""

from __future__ import annotations

import json
import os
import stat

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    action,
)

PLUGIN = Plugin("disk.smart", domain="disk", requires=["smartctl"])

EXIT_BITS = (
    "command line did not parse", "device open failed or unsupported", "a SMART command failed",
    "disk failing (health check FAILED)", "prefail attribute at or below threshold",
    "attribute was at or below threshold in the past", "device error log has errors",
    "self-test log has errors",
)  # fmt: skip
ATA_IDS = {5: "reallocated", 197: "pending", 198: "offline_uncorrectable", 199: "crc_errors"}
DEVICE_TYPES = ("auto", "ata", "sat", "scsi", "nvme", "megaraid", "cciss", "areca", "3ware", "usbjmicron")


class Params(msgspec.Struct, forbid_unknown_fields=True):
    device: str | None = None
    type: str | None = None


class SmartDevice(msgspec.Struct):
    device: str
    type: str
    model: str = ""
    serial: str = ""
    firmware: str = ""
    capacity: int | None = None
    passed: bool | None = None
    temperature: int | None = None
    power_on_hours: int | None = None
    reallocated: int | None = None
    pending: int | None = None
    offline_uncorrectable: int | None = None
    crc_errors: int | None = None
    percentage_used: int | None = None
    media_errors: int | None = None
    available_spare: int | None = None
    critical_warning: int | None = None
    exit_status: int = 0
    status: list[str] = []
    messages: list[str] = []


class Smart(msgspec.Struct):
    devices: list[SmartDevice]
    failing: list[str]


def decode_exit(code: int) -> list[str]:
    return [text for bit, text in enumerate(EXIT_BITS) if code & (1 << bit)]


def parse_smartctl(device: str, dtype: str, doc: dict) -> SmartDevice:
    """Map one ``smartctl --json -a`` document to a :class:`SmartDevice`."""
    code = int(doc.get("smartctl", {}).get("exit_status", 0))
    out = SmartDevice(
        device=device,
        type=doc.get("device", {}).get("type", dtype),
        model=doc.get("model_name", doc.get("scsi_model_name", "")),
        serial=doc.get("serial_number", ""),
        firmware=doc.get("firmware_version", ""),
        capacity=doc.get("user_capacity", {}).get("bytes"),
        passed=doc.get("smart_status", {}).get("passed"),
        temperature=doc.get("temperature", {}).get("current"),
        power_on_hours=doc.get("power_on_time", {}).get("hours"),
        exit_status=code,
        status=decode_exit(code),
        messages=[m.get("string", "") for m in doc.get("smartctl", {}).get("messages", [])],
    )
    for attr in doc.get("ata_smart_attributes", {}).get("table", []):
        field = ATA_IDS.get(attr.get("id"))
        if field:
            setattr(out, field, int(attr.get("raw", {}).get("value", 0)))
    nvme = doc.get("nvme_smart_health_information_log")
    if nvme:
        out.percentage_used = nvme.get("percentage_used")
        out.media_errors = nvme.get("media_errors")
        out.available_spare = nvme.get("available_spare")
        out.critical_warning = nvme.get("critical_warning")
    return out


def is_failing(d: SmartDevice) -> bool:
    bad_counts = any((v or 0) > 0 for v in (d.reallocated, d.pending, d.offline_uncorrectable, d.media_errors))
    return d.passed is False or bool(d.exit_status & 0b11000) or bad_counts or bool(d.critical_warning)


def _check_device(path: str) -> None:
    if not path.startswith("/dev/") or ".." in path.split("/"):
        raise InvalidParams(f"device must be a /dev path, got {path!r}")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise NotFound(f"no device {path}") from None
    if not (stat.S_ISBLK(mode) or stat.S_ISCHR(mode)):
        raise InvalidParams(f"{path} is not a device node")


async def _smartctl_json(ctx: ActionContext, argv: list[str]) -> dict:
    res = await ctx.run(["smartctl", "--json", *argv])
    try:
        return json.loads(res.stdout)
    except json.JSONDecodeError as exc:
        raise ActionError(f"smartctl gave no JSON (exit {res.exit_code}): {res.stderr.strip()[:200]}", code=ErrorCode.A008, data=res) from exc


@action("disk.smart", risk=Risk.READ, timeout=120)
async def smart(ctx: ActionContext, p: Params) -> Smart:
    """SMART verdict, temperature, hours, bad-sector counters or NVMe wear for one or every disk."""
    if p.type is not None and p.type.split(",")[0] not in DEVICE_TYPES:
        raise InvalidParams(f"type must start with one of {', '.join(DEVICE_TYPES)}")
    if p.device is not None:
        _check_device(p.device)
        targets = [(p.device, p.type or "auto")]
    else:
        scan = await _smartctl_json(ctx, ["--scan-open"])
        targets = [(d["name"], d.get("type", "auto")) for d in scan.get("devices", [])]
    devices = []
    for device, dtype in targets:
        doc = await _smartctl_json(ctx, ["-a", "-d", dtype, device])
        devices.append(parse_smartctl(device, dtype, doc))
    return Smart(devices=devices, failing=[d.device for d in devices if is_failing(d)])
