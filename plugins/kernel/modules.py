"""Loaded kernel modules (lsmod): size, use count, users, state and taint flags.

``kernel.modules`` parses ``/proc/modules`` (what ``lsmod`` shows, without
needing kmod): each loaded module with its memory size, how many references
hold it, which modules depend on it, its state (Live, Loading, Unloading) and
taint flags (``O`` out-of-tree, ``E`` unsigned, ``P`` proprietary, ...), and
lists the modules that taint the kernel. ``match`` keeps the modules whose
name contains it. Unavailable on kernels built without module support.
Reads only.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from agent_core.procfs import read

PROC_MODULES = "/proc/modules"
PLUGIN = Plugin("kernel.modules", domain="kernel", requires_files=[PROC_MODULES])


class Params(msgspec.Struct, forbid_unknown_fields=True):
    match: str | None = None


class Module(msgspec.Struct):
    name: str
    size: int
    refcount: int
    used_by: list[str]
    state: str
    taint: str


class Modules(msgspec.Struct):
    modules: list[Module]
    count: int
    total_size: int
    tainting: list[str]


def parse_modules(text: str) -> list[Module]:
    """``name size refcount deps state address [(taint)]`` per line; deps is ``-`` or ``a,b,``."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 5:
            continue
        deps = [] if f[3] == "-" else [d for d in f[3].split(",") if d]
        taint = f[6].strip("()") if len(f) > 6 else ""
        out.append(Module(name=f[0], size=int(f[1]), refcount=int(f[2]) if f[2].lstrip("-").isdigit() else -1,
                          used_by=deps, state=f[4], taint=taint))  # fmt: skip
    return out


@action("kernel.modules", risk=Risk.READ, timeout=10)
async def modules(ctx: ActionContext, p: Params) -> Modules:
    """Loaded modules with size, use count, dependents, state and taint; ``match`` filters by substring."""
    mods = parse_modules(read(PROC_MODULES) or "")
    if p.match:
        mods = [m for m in mods if p.match in m.name]
    return Modules(
        modules=sorted(mods, key=lambda m: m.name),
        count=len(mods),
        total_size=sum(m.size for m in mods),
        tainting=sorted(f"{m.name}({m.taint})" for m in mods if m.taint),
    )
