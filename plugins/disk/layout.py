"""What is on each disk: partitions, filesystems, LVM/RAID/crypt layers and mount points, as a tree.

``disk.layout`` asks ``lsblk`` for the block device tree with bytes and JSON
output: for every disk, partition, md array, LVM volume or crypt mapping its
type, size, filesystem type and version, label, UUIDs, mount points and
free/used space of mounted filesystems, and its children. ``unused`` lists
devices that carry no filesystem, no children and no mount point: the disk
that was attached but never set up, or the partition left empty. Loop and
zram devices are skipped unless ``virtual``. Reads only; needs util-linux.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action

PLUGIN = Plugin("disk.layout", domain="disk", requires=["lsblk"])

COLUMNS = "NAME,PATH,TYPE,SIZE,FSTYPE,FSVER,LABEL,UUID,PARTUUID,PARTLABEL,MOUNTPOINTS,FSAVAIL,FSUSED,RO,RM,MODEL"
VIRTUAL_TYPES = ("loop", "rom")
VIRTUAL_NAMES = ("zram", "ram", "nbd")


class Params(msgspec.Struct, forbid_unknown_fields=True):
    virtual: bool = False


class Node(msgspec.Struct):
    name: str
    path: str
    type: str
    size: int
    fstype: str
    fsver: str
    label: str
    uuid: str
    partuuid: str
    mountpoints: list[str]
    fs_avail: int | None
    fs_used: int | None
    read_only: bool
    removable: bool
    model: str
    children: list[Node] = []


class Layout(msgspec.Struct):
    devices: list[Node]
    unused: list[str]


def _int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    return int(value)


def to_node(d: dict[str, Any]) -> Node:
    points = d.get("mountpoints")
    if points is None:  # util-linux < 2.37 has one MOUNTPOINT
        points = [d.get("mountpoint")]
    return Node(
        name=d.get("name", ""),
        path=d.get("path", ""),
        type=d.get("type", ""),
        size=_int(d.get("size")) or 0,
        fstype=d.get("fstype") or "",
        fsver=d.get("fsver") or "",
        label=d.get("label") or "",
        uuid=d.get("uuid") or "",
        partuuid=d.get("partuuid") or "",
        mountpoints=[m for m in points if m],
        fs_avail=_int(d.get("fsavail")),
        fs_used=_int(d.get("fsused")),
        read_only=bool(d.get("ro")) and d.get("ro") not in ("0", 0),
        removable=bool(d.get("rm")) and d.get("rm") not in ("0", 0),
        model=(d.get("model") or "").strip(),
        children=[to_node(c) for c in d.get("children", [])],
    )


def unused(nodes: list[Node]) -> list[str]:
    out = []
    for n in nodes:
        if not n.fstype and not n.children and not n.mountpoints and n.size > 0 and n.type in ("disk", "part", "lvm", "raid1", "raid5", "raid6", "raid10", "raid0", "crypt"):
            out.append(n.path or n.name)
        out += unused(n.children)
    return out


@action("disk.layout", risk=Risk.READ, timeout=30)
async def layout(ctx: ActionContext, p: Params) -> Layout:
    """Tree of disks, partitions and stacked devices with filesystems, UUIDs, mount points and usage."""
    res = await ctx.run(["lsblk", "--json", "--bytes", "--output", COLUMNS])
    if res.exit_code != 0 and "unknown column" in res.stderr:
        res = await ctx.run(["lsblk", "--json", "--bytes", "--output", COLUMNS.replace("MOUNTPOINTS", "MOUNTPOINT").replace(",FSUSED", "")])
    if res.exit_code != 0:
        raise ActionError(f"lsblk exited {res.exit_code}: {res.stderr.strip()[:300]}", code=ErrorCode.A008, data=res)
    try:
        raw = json.loads(res.stdout).get("blockdevices", [])
    except json.JSONDecodeError as exc:
        raise ActionError(f"lsblk gave no JSON: {exc}", code=ErrorCode.A004) from exc
    nodes = [to_node(d) for d in raw]
    if not p.virtual:
        nodes = [n for n in nodes if n.type not in VIRTUAL_TYPES and not n.name.startswith(VIRTUAL_NAMES)]
    return Layout(devices=nodes, unused=unused(nodes))
