"""Machine identity from DMI/SMBIOS: vendor, product, serial number, board, BIOS, chassis.

``hw.dmi`` reads ``/sys/class/dmi/id`` (no ``dmidecode`` needed): system
vendor, product name and version, serial number and UUID (root-only files, so
the agent must run as root to see them), board vendor/name/serial, BIOS
vendor/version/date, chassis type (decoded: rack mount, blade, desktop...) and
asset tag. Placeholder values that vendors ship ("To Be Filled By O.E.M.",
"Default string", all zeros) are flagged, because an SN that is a placeholder
breaks asset tracking. Unavailable where the firmware exposes no DMI (some
VMs, most ARM boards). Reads only.
"""

from __future__ import annotations

import os

import msgspec

from agent_core import ActionContext, NoParams, Plugin, Risk, action
from agent_core.procfs import read

DMI = "/sys/class/dmi/id"
PLUGIN = Plugin("hw.dmi", domain="hardware", requires_files=[DMI])

FIELDS = (
    "sys_vendor", "product_name", "product_version", "product_serial", "product_uuid", "product_sku",
    "product_family", "board_vendor", "board_name", "board_version", "board_serial", "board_asset_tag",
    "bios_vendor", "bios_version", "bios_date", "bios_release", "chassis_vendor", "chassis_type",
    "chassis_serial", "chassis_asset_tag",
)  # fmt: skip
CHASSIS = {
    1: "other", 2: "unknown", 3: "desktop", 4: "low-profile-desktop", 5: "pizza-box", 6: "mini-tower",
    7: "tower", 8: "portable", 9: "laptop", 10: "notebook", 11: "hand-held", 12: "docking-station",
    13: "all-in-one", 14: "sub-notebook", 15: "space-saving", 16: "lunch-box", 17: "main-server-chassis",
    18: "expansion-chassis", 19: "sub-chassis", 20: "bus-expansion-chassis", 21: "peripheral-chassis",
    22: "raid-chassis", 23: "rack-mount", 24: "sealed-case-pc", 25: "multi-system", 26: "compact-pci",
    27: "advanced-tca", 28: "blade", 29: "blade-enclosure", 30: "tablet", 31: "convertible",
    32: "detachable", 33: "iot-gateway", 34: "embedded-pc", 35: "mini-pc", 36: "stick-pc",
}  # fmt: skip
PLACEHOLDERS = ("to be filled by o.e.m.", "default string", "not specified", "system serial number",
                "none", "n/a", "0123456789", "chassis serial number", "not applicable", "empty")  # fmt: skip


class Dmi(msgspec.Struct):
    vendor: str
    product: str
    serial: str
    uuid: str
    chassis: str
    fields: dict[str, str]
    unreadable: list[str]
    placeholders: list[str]


def is_placeholder(value: str) -> bool:
    v = value.strip().lower()
    return not v or v in PLACEHOLDERS or set(v) <= set("0-:") or set(v) <= set("f-:")


def read_dmi(root: str = DMI) -> Dmi:
    """Read the DMI attributes under ``root`` (``/sys/class/dmi/id``)."""
    fields: dict[str, str] = {}
    unreadable: list[str] = []
    for name in FIELDS:
        path = os.path.join(root, name)
        value = read(path)
        if value is None:
            if os.path.exists(path):
                unreadable.append(name)  # root-only (serials, uuid)
            continue
        fields[name] = value.strip()
    chassis = fields.get("chassis_type", "")
    return Dmi(
        vendor=fields.get("sys_vendor", ""),
        product=fields.get("product_name", ""),
        serial=fields.get("product_serial", ""),
        uuid=fields.get("product_uuid", ""),
        chassis=CHASSIS.get(int(chassis), "unknown") if chassis.isdigit() else "",
        fields=fields,
        unreadable=unreadable,
        placeholders=sorted(k for k, v in fields.items() if k.endswith(("serial", "uuid", "asset_tag")) and is_placeholder(v)),
    )


@action("hw.dmi", risk=Risk.READ, timeout=10)
async def dmi(ctx: ActionContext, p: NoParams) -> Dmi:
    """System, board, BIOS and chassis identity, with serial number and UUID; placeholder values flagged."""
    return read_dmi(DMI)
