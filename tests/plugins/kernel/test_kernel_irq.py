"""kernel.irq: interrupt and softirq rates are consistent with /proc and with each other."""

from __future__ import annotations

import pytest

from agent_core.testing import run_action
from plugins.kernel.irq import parse_table


def _table(path: str):
    with open(path) as fh:
        return parse_table(fh.read())


def _affinity(irq: str) -> str:
    with open(f"/proc/irq/{irq}/smp_affinity_list") as fh:
        return fh.read().strip()


async def test_interrupts():
    cpus, rows = _table("/proc/interrupts")
    out = await run_action("kernel.irq.interrupts", {"interval": 0.3, "top": 10000})
    assert out.ok, out.message
    v = out.value
    assert v["cpus"] == cpus
    assert {s["irq"] for s in v["sources"]} >= set(rows) - {"ERR", "MIS"}
    totals = [s["total"] for s in v["sources"]]
    assert totals == sorted(totals, reverse=True)
    assert sum(totals) > 0  # the timer alone ticks
    for s in v["sources"]:
        assert len(s["per_cpu"]) == len(cpus) and s["total"] == pytest.approx(sum(s["per_cpu"]), abs=0.2)
        if s["irq"].isdigit() and s["affinity"]:
            assert s["affinity"] == _affinity(s["irq"])
    assert v["imbalanced"] == [f"{s['irq']} {s['name']}".strip() for s in v["sources"] if s["imbalanced"]]


async def test_softirqs():
    cpus, rows = _table("/proc/softirqs")
    out = await run_action("kernel.irq.softirqs", {"interval": 0.3, "top": 100})
    assert out.ok
    assert {s["irq"] for s in out.value["sources"]} == set(rows)
    assert "TIMER" in rows and out.value["cpus"] == cpus


def test_parse_table():
    text = "           CPU0       CPU1\n  0:         36          0   IO-APIC   2-edge      timer\nNMI:          0          0   Non-maskable interrupts\nERR:          0\n"
    cpus, rows = parse_table(text)
    assert cpus == ["CPU0", "CPU1"]
    assert rows["0"] == ([36, 0], "IO-APIC 2-edge timer")
    assert rows["ERR"] == ([0, 0], "")


@pytest.mark.parametrize("params", [{"interval": 0}, {"top": 0}, {"cpu": 1}])
async def test_irq_bad_params(params):
    assert (await run_action("kernel.irq.interrupts", params)).code == "A002"
    assert (await run_action("kernel.irq.softirqs", params)).code == "A002"
