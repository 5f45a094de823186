"""Pressure stall information: how much time tasks waited for CPU, memory and I/O.

``sys.pressure`` reads the kernel's PSI counters (``/proc/pressure/*``, Linux
4.20+ with ``psi=1``): for each resource the share of time in which *some*
tasks, or *all* non-idle tasks (*full*), were stalled waiting for it, averaged
over 10 s, 60 s and 300 s, and the total stall time. Unlike the load average,
PSI separates "busy" from "starved": ``memory full avg10 > 10`` means real
work is lost to reclaim. ``threshold`` lists the resources whose 10 s *some*
share exceeds it. Reads only.
"""

from __future__ import annotations

import os
from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    Plugin,
    Risk,
    Unavailable,
    action,
)
from agent_core.procfs import listdir, read

PLUGIN = Plugin("sys.pressure", domain="system", requires_files=["/proc/pressure"])

PSI_DIR = "/proc/pressure"


class Params(msgspec.Struct, forbid_unknown_fields=True):
    threshold: Annotated[float, msgspec.Meta(ge=0, le=100)] = 10.0


class Stall(msgspec.Struct):
    avg10: float
    avg60: float
    avg300: float
    total_us: int


class Resource(msgspec.Struct):
    name: str
    some: Stall
    full: Stall | None


class Pressure(msgspec.Struct):
    resources: list[Resource]
    over_threshold: list[str]


def parse_psi(text: str) -> dict[str, Stall]:
    """``some avg10=1.00 avg60=0.50 avg300=0.10 total=123`` lines to {"some": Stall, ...}."""
    out = {}
    for line in text.splitlines():
        kind, *pairs = line.split()
        values = dict(pair.split("=", 1) for pair in pairs)
        out[kind] = Stall(
            avg10=float(values["avg10"]),
            avg60=float(values["avg60"]),
            avg300=float(values["avg300"]),
            total_us=int(values["total"]),
        )
    return out


@action("sys.pressure", risk=Risk.READ, timeout=10)
async def pressure(ctx: ActionContext, p: Params) -> Pressure:
    """PSI some/full stall shares (10 s, 60 s, 300 s) and totals for cpu, memory, io (and irq)."""
    resources = []
    for name in listdir(PSI_DIR):
        text = read(os.path.join(PSI_DIR, name))
        if not text:  # unreadable when PSI is compiled in but disabled (psi=0)
            continue
        stalls = parse_psi(text)
        if "some" not in stalls:
            continue
        # The kernel reports cpu "full" as zeros at the system level; keep what it gives.
        resources.append(Resource(name=name, some=stalls["some"], full=stalls.get("full")))
    if not resources:
        raise Unavailable("PSI is disabled on this kernel (boot with psi=1)")
    return Pressure(
        resources=resources,
        over_threshold=[r.name for r in resources if r.some.avg10 > p.threshold],
    )
