"""LVM physical volumes, volume groups and logical volumes, with thin pool and snapshot fill.

``disk.lvm`` runs ``pvs``, ``vgs`` and ``lvs`` with JSON output and byte units
and returns typed lists: PVs with their VG, size, free space and missing
flag; VGs with size, free, PV/LV counts and partial state; LVs with size,
type, activation, origin or pool, and the data/metadata fill of thin pools
and snapshots. ``problems`` lists what needs an operator: missing PVs,
partial VGs, and thin pools or snapshots at or above ``threshold`` percent
(a full thin pool freezes every volume in it). Reads only; needs lvm2.
"""

from __future__ import annotations

import json
import os
from typing import Annotated

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

PLUGIN = Plugin("disk.lvm", domain="disk", requires=["lvm"])

PV_FIELDS = "pv_name,vg_name,pv_fmt,pv_attr,pv_size,pv_free,pv_uuid"
VG_FIELDS = "vg_name,vg_uuid,vg_attr,vg_size,vg_free,pv_count,lv_count,snap_count,vg_missing_pv_count"
LV_FIELDS = "lv_name,vg_name,lv_attr,lv_size,segtype,origin,pool_lv,data_percent,metadata_percent,lv_path"
LV_TYPES = {"m": "mirror", "M": "mirror", "o": "origin", "O": "origin", "r": "raid", "R": "raid", "s": "snapshot",
            "S": "snapshot", "p": "pvmove", "v": "virtual", "i": "image", "I": "image", "l": "log", "c": "conversion",
            "V": "thin", "t": "thin-pool", "T": "thin-pool-data", "e": "metadata", "C": "cache", "d": "vdo-pool", "-": "linear"}  # fmt: skip


class Params(msgspec.Struct, forbid_unknown_fields=True):
    threshold: Annotated[float, msgspec.Meta(ge=0, le=100)] = 80.0
    vg: str | None = None


class PhysicalVolume(msgspec.Struct):
    name: str
    vg: str
    format: str
    size: int
    free: int
    uuid: str
    allocatable: bool
    missing: bool


class VolumeGroup(msgspec.Struct):
    name: str
    uuid: str
    size: int
    free: int
    free_percent: float
    pvs: int
    lvs: int
    snapshots: int
    missing_pvs: int
    partial: bool
    attr: str


class LogicalVolume(msgspec.Struct):
    name: str
    vg: str
    path: str
    size: int
    type: str
    segtype: str
    active: bool
    open: bool
    origin: str
    pool: str
    data_percent: float | None
    metadata_percent: float | None
    attr: str


class Lvm(msgspec.Struct):
    pvs: list[PhysicalVolume]
    vgs: list[VolumeGroup]
    lvs: list[LogicalVolume]
    problems: list[str]


def _num(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _int(value: str | None) -> int:
    n = _num(value)
    return int(n) if n is not None else 0


def report_rows(stdout: str, kind: str) -> list[dict[str, str]]:
    """Rows of ``--reportformat json`` output: ``{"report": [{"pv": [...]}]}``."""
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise ActionError(f"unreadable {kind}s output: {exc}", code=ErrorCode.A004) from exc
    return [row for report in data.get("report", []) for row in report.get(kind, [])]


def to_pv(r: dict[str, str]) -> PhysicalVolume:
    attr = r.get("pv_attr", "---")
    return PhysicalVolume(
        name=r["pv_name"], vg=r.get("vg_name", ""), format=r.get("pv_fmt", ""), size=_int(r.get("pv_size")),
        free=_int(r.get("pv_free")), uuid=r.get("pv_uuid", ""), allocatable=attr[:1] == "a", missing=attr[2:3] == "m",
    )  # fmt: skip


def to_vg(r: dict[str, str]) -> VolumeGroup:
    size, free = _int(r.get("vg_size")), _int(r.get("vg_free"))
    attr = r.get("vg_attr", "")
    return VolumeGroup(
        name=r["vg_name"], uuid=r.get("vg_uuid", ""), size=size, free=free,
        free_percent=round(100.0 * free / size, 2) if size else 0.0, pvs=_int(r.get("pv_count")),
        lvs=_int(r.get("lv_count")), snapshots=_int(r.get("snap_count")), missing_pvs=_int(r.get("vg_missing_pv_count")),
        partial=attr[3:4] == "p", attr=attr,
    )  # fmt: skip


def to_lv(r: dict[str, str]) -> LogicalVolume:
    attr = r.get("lv_attr", "----------")
    return LogicalVolume(
        name=r["lv_name"], vg=r.get("vg_name", ""), path=r.get("lv_path", ""), size=_int(r.get("lv_size")),
        type=LV_TYPES.get(attr[:1], attr[:1]), segtype=r.get("segtype", ""), active=attr[4:5] == "a",
        open=attr[5:6] == "o", origin=r.get("origin", ""), pool=r.get("pool_lv", ""),
        data_percent=_num(r.get("data_percent")), metadata_percent=_num(r.get("metadata_percent")), attr=attr,
    )  # fmt: skip


def problems(pvs: list[PhysicalVolume], vgs: list[VolumeGroup], lvs: list[LogicalVolume], threshold: float) -> list[str]:
    out = [f"PV {pv.name} of VG {pv.vg} is missing" for pv in pvs if pv.missing]
    out += [f"VG {vg.name} is partial ({vg.missing_pvs} PV missing)" for vg in vgs if vg.partial or vg.missing_pvs]
    for lv in lvs:
        for label, pct in (("data", lv.data_percent), ("metadata", lv.metadata_percent)):
            if pct is not None and lv.type in ("thin-pool", "snapshot") and pct >= threshold:
                out.append(f"{lv.type} {lv.vg}/{lv.name} {label} {pct:g}% full")
    return out


async def _report(ctx: ActionContext, tool: str, fields: str, vg: str | None) -> list[dict[str, str]]:
    argv = ["lvm", tool, "--reportformat", "json", "--units", "b", "--nosuffix", "-o", fields]
    if vg:
        argv += ["-S", f"vg_name={vg}"]
    # lvm complains about every inherited descriptor; the agent's are harmless.
    env = dict(os.environ, LVM_SUPPRESS_FD_WARNINGS="1")
    res = await ctx.run(argv, env=env)
    if res.exit_code != 0:
        raise ActionError(f"lvm {tool} exited {res.exit_code}: {res.stderr.strip()[-300:]}", code=ErrorCode.A008, data=res)
    return report_rows(res.stdout, tool[:-1] if tool != "lvs" else "lv")


@action("disk.lvm", risk=Risk.READ, timeout=60)
async def lvm(ctx: ActionContext, p: Params) -> Lvm:
    """PVs, VGs and LVs (optionally of one ``vg``) with free space, thin pool/snapshot fill and problems."""
    if p.vg is not None and (not p.vg or not all(c.isalnum() or c in "+_.-" for c in p.vg)):
        raise InvalidParams(f"invalid VG name {p.vg!r}")
    pvs = [to_pv(r) for r in await _report(ctx, "pvs", PV_FIELDS, p.vg)]
    vgs = [to_vg(r) for r in await _report(ctx, "vgs", VG_FIELDS, p.vg)]
    lvs = [to_lv(r) for r in await _report(ctx, "lvs", LV_FIELDS, p.vg)]
    if p.vg is not None and not vgs:
        raise NotFound(f"no volume group {p.vg!r}")
    return Lvm(pvs=pvs, vgs=vgs, lvs=lvs, problems=problems(pvs, vgs, lvs, p.threshold))
