"""Interrupt and softirq rates per CPU over an interval, with IRQ affinity and imbalance.

``kernel.irq.interrupts`` samples ``/proc/interrupts`` twice and reports, for
the busiest ``top`` interrupt sources (NIC queues, NVMe, timers, IPIs), the
rate per CPU and in total, the device name, the CPUs the IRQ may go to
(``/proc/irq/N/smp_affinity_list``) and the CPUs it actually hit, and flags an
IRQ as ``imbalanced`` when one CPU takes over 90% of a busy source (a network
card whose queues all land on CPU 0 is a classic throughput cap).
``kernel.irq.softirqs`` does the same for ``/proc/softirqs`` (NET_RX, NET_TX,
TIMER, SCHED, RCU, ...). Reads only.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from agent_core.procfs import read

PLUGIN = Plugin("kernel.irq", domain="kernel", requires_files=["/proc/interrupts"])

BUSY_PER_S = 100.0  # below this an IRQ is too quiet for its distribution to matter


class Params(msgspec.Struct, forbid_unknown_fields=True):
    interval: Annotated[float, msgspec.Meta(ge=0.05, le=60)] = 1.0
    top: Annotated[int, msgspec.Meta(ge=1, le=10000)] = 20


class Source(msgspec.Struct):
    irq: str
    name: str
    per_cpu: list[float]
    total: float
    affinity: str = ""
    imbalanced: bool = False


class Rates(msgspec.Struct):
    interval: float
    cpus: list[str]
    sources: list[Source]
    per_cpu_total: list[float]
    imbalanced: list[str]


def parse_table(text: str) -> tuple[list[str], dict[str, tuple[list[int], str]]]:
    """``/proc/interrupts`` or ``/proc/softirqs``: a CPU header, then ``ID: counts... [description]``."""
    lines = text.splitlines()
    if not lines:
        return [], {}
    cpus = lines[0].split()
    rows: dict[str, tuple[list[int], str]] = {}
    for line in lines[1:]:
        label, sep, rest = line.partition(":")
        if not sep:
            continue
        fields = rest.split()
        counts = []
        for f in fields[: len(cpus)]:
            if not f.isdigit():
                break
            counts.append(int(f))
        name = " ".join(fields[len(counts) :])
        rows[label.strip()] = (counts + [0] * (len(cpus) - len(counts)), name)
    return cpus, rows


async def sample(ctx: ActionContext, path: str, p: Params, affinity: bool) -> Rates:
    cpus, first = parse_table(read(path) or "")
    await ctx.sleep(p.interval)
    _, second = parse_table(read(path) or "")
    sources = []
    for irq, (after, name) in second.items():
        before = first.get(irq, ([0] * len(after), ""))[0]
        rates = [round(max(0, a - b) / p.interval, 1) for a, b in zip(after, before, strict=False)]
        total = round(sum(rates), 1)
        src = Source(irq=irq, name=name, per_cpu=rates, total=total)
        if affinity and irq.isdigit():
            src.affinity = (read(f"/proc/irq/{irq}/smp_affinity_list") or "").strip()
        src.imbalanced = total >= BUSY_PER_S and len(rates) > 1 and max(rates) > 0.9 * total
        sources.append(src)
    sources.sort(key=lambda s: (-s.total, s.irq))
    per_cpu = [round(sum(s.per_cpu[i] for s in sources if i < len(s.per_cpu)), 1) for i in range(len(cpus))]
    return Rates(interval=p.interval, cpus=cpus, sources=sources[: p.top], per_cpu_total=per_cpu,
                 imbalanced=[f"{s.irq} {s.name}".strip() for s in sources if s.imbalanced])  # fmt: skip


@action("kernel.irq.interrupts", risk=Risk.READ, timeout=120)
async def interrupts(ctx: ActionContext, p: Params) -> Rates:
    """Hardware interrupt rates per source and CPU over ``interval``, with affinity and imbalance flags."""
    return await sample(ctx, "/proc/interrupts", p, affinity=True)


@action("kernel.irq.softirqs", risk=Risk.READ, timeout=120)
async def softirqs(ctx: ActionContext, p: Params) -> Rates:
    """Softirq rates (NET_RX, NET_TX, TIMER, SCHED, RCU, ...) per CPU over ``interval``."""
    return await sample(ctx, "/proc/softirqs", p, affinity=False)
