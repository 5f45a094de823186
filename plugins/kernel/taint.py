"""Why the kernel is tainted: each taint flag decoded, and the modules that set it.

``kernel.taint`` decodes ``/proc/sys/kernel/tainted`` bit by bit into the
letters the kernel prints in oops reports (``P`` proprietary module, ``O``
out-of-tree module, ``E`` unsigned module, ``W`` a warning was issued, ``D``
the kernel died (oops or BUG), ``M`` machine check, ``L`` soft lockup, ...)
with their meaning, says which of them mean "this host had a real problem
since boot" (``D``, ``M``, ``B``, ``L``, ``W``), and names the loaded modules
carrying module taints. Vendors ask for this before they accept a kernel bug
report. Reads only.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, NoParams, Plugin, Risk, action
from agent_core.procfs import read
from plugins.kernel.modules import PROC_MODULES, parse_modules

TAINTED = "/proc/sys/kernel/tainted"
PLUGIN = Plugin("kernel.taint", domain="kernel", requires_files=[TAINTED])

FLAGS = (
    ("P", "proprietary module was loaded"), ("F", "module was force loaded"),
    ("S", "kernel running on an out-of-specification system"), ("R", "module was force unloaded"),
    ("M", "processor reported a machine check exception"), ("B", "bad page referenced or unexpected page flags"),
    ("U", "taint requested by a userspace application"), ("D", "kernel died recently (oops or BUG)"),
    ("A", "ACPI table overridden by the user"), ("W", "kernel issued a warning"),
    ("C", "staging driver was loaded"), ("I", "workaround for a platform firmware bug applied"),
    ("O", "externally-built (out-of-tree) module was loaded"), ("E", "unsigned module was loaded"),
    ("L", "soft lockup occurred"), ("K", "kernel has been live patched"),
    ("X", "auxiliary taint (defined by distributions)"), ("T", "kernel built with the struct randomization plugin"),
    ("N", "an in-kernel test has been run"), ("J", "userspace used a mutating debug operation in fwctl"),
)  # fmt: skip
TROUBLE = {"D", "M", "B", "L", "W"}


class Flag(msgspec.Struct):
    bit: int
    letter: str
    meaning: str


class Taint(msgspec.Struct):
    value: int
    tainted: bool
    letters: str
    flags: list[Flag]
    trouble: list[str]
    modules: list[str]


def decode(value: int) -> list[Flag]:
    """The flags set in a taint mask (unknown high bits reported as ``?``)."""
    out = []
    for bit in range(value.bit_length()):
        if value >> bit & 1:
            letter, meaning = FLAGS[bit] if bit < len(FLAGS) else ("?", f"unknown taint bit {bit}")
            out.append(Flag(bit=bit, letter=letter, meaning=meaning))
    return out


@action("kernel.taint", risk=Risk.READ, timeout=10)
async def taint(ctx: ActionContext, p: NoParams) -> Taint:
    """The taint mask decoded into flags with meanings, the flags that signal trouble, and tainting modules."""
    value = int((read(TAINTED) or "0").strip() or 0)
    flags = decode(value)
    mods = [f"{m.name}({m.taint})" for m in parse_modules(read(PROC_MODULES) or "") if m.taint]
    return Taint(
        value=value,
        tainted=value != 0,
        letters="".join(f.letter for f in flags),
        flags=flags,
        trouble=[f"{f.letter}: {f.meaning}" for f in flags if f.letter in TROUBLE],
        modules=sorted(mods),
    )
