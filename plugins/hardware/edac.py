"""ECC memory errors per memory controller and DIMM, from the kernel's EDAC counters.

``hw.edac`` reads ``/sys/devices/system/edac/mc``: for each memory controller
its driver, size and the corrected (CE) and uncorrected (UE) error counts, and
the same counts per DIMM (or per csrow/channel on older drivers) with the
DIMM's silkscreen label and location, so the failing module can be named in
the ticket. A rising CE count on one DIMM is the usual warning before it
fails; any UE is an incident. Unavailable where no EDAC driver is loaded
(virtual machines, boards without ECC). Reads only.
"""

from __future__ import annotations

import os
import re

import msgspec

from agent_core import ActionContext, NoParams, Plugin, Risk, action
from agent_core.procfs import listdir, read, read_int

EDAC_MC = "/sys/devices/system/edac/mc"
PLUGIN = Plugin("hw.edac", domain="hardware", requires_files=[EDAC_MC])


class Dimm(msgspec.Struct):
    name: str
    label: str
    location: str
    size_mb: int | None
    mem_type: str
    ce: int
    ue: int


class Controller(msgspec.Struct):
    name: str
    driver: str
    size_mb: int | None
    ce: int
    ue: int
    ce_noinfo: int
    ue_noinfo: int
    dimms: list[Dimm]


class Edac(msgspec.Struct):
    controllers: list[Controller]
    ce_total: int
    ue_total: int
    failing: list[str]


def _dimms(mc: str) -> list[Dimm]:
    out = []
    for name in listdir(mc):
        d = os.path.join(mc, name)
        if re.match(r"^(dimm|rank)\d+$", name):
            out.append(
                Dimm(
                    name=name,
                    label=read(f"{d}/dimm_label") or "",
                    location=" ".join((read(f"{d}/dimm_location") or "").split()),
                    size_mb=read_int(f"{d}/size"),
                    mem_type=read(f"{d}/dimm_mem_type") or "",
                    ce=read_int(f"{d}/dimm_ce_count") or 0,
                    ue=read_int(f"{d}/dimm_ue_count") or 0,
                )
            )
        elif re.match(r"^csrow\d+$", name):
            # Older drivers: counts per chip-select row, labels per channel.
            for ch in sorted(f for f in listdir(d) if re.match(r"^ch\d+_ce_count$", f)):
                chan = ch.split("_")[0]
                out.append(
                    Dimm(
                        name=f"{name}/{chan}",
                        label=read(f"{d}/{chan}_dimm_label") or "",
                        location=f"{name} {chan}",
                        size_mb=read_int(f"{d}/size_mb"),
                        mem_type=read(f"{d}/mem_type") or "",
                        ce=read_int(f"{d}/{ch}") or 0,
                        ue=read_int(f"{d}/ue_count") or 0,
                    )
                )
    return out


def read_edac(root: str = EDAC_MC) -> Edac:
    controllers = []
    for name in listdir(root):
        if not re.match(r"^mc\d+$", name):
            continue
        mc = os.path.join(root, name)
        controllers.append(
            Controller(
                name=name,
                driver=read(f"{mc}/mc_name") or "",
                size_mb=read_int(f"{mc}/size_mb"),
                ce=read_int(f"{mc}/ce_count") or 0,
                ue=read_int(f"{mc}/ue_count") or 0,
                ce_noinfo=read_int(f"{mc}/ce_noinfo_count") or 0,
                ue_noinfo=read_int(f"{mc}/ue_noinfo_count") or 0,
                dimms=_dimms(mc),
            )
        )
    failing = [
        f"{c.name}/{d.name} {d.label}".strip() for c in controllers for d in c.dimms if d.ue or d.ce
    ] + [f"{c.name} (no DIMM info)" for c in controllers if c.ue_noinfo or c.ce_noinfo]
    return Edac(
        controllers=controllers,
        ce_total=sum(c.ce for c in controllers),
        ue_total=sum(c.ue for c in controllers),
        failing=failing,
    )


@action("hw.edac", risk=Risk.READ, timeout=10)
async def edac(ctx: ActionContext, p: NoParams) -> Edac:
    """Corrected and uncorrected ECC error counts per memory controller and DIMM, with DIMM labels."""
    return read_edac()
