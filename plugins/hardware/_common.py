"""Helpers shared by the hardware plugins: /proc/cpuinfo, CPU sysfs and /proc/stat."""

from __future__ import annotations

import os

from agent_core.procfs import listdir, parse_cpulist, read

CPU_SYSFS = "/sys/devices/system/cpu"


def cpuinfo_blocks(text: str | None = None) -> list[dict[str, str]]:
    """``/proc/cpuinfo`` as one dict per logical CPU (blank-line separated blocks)."""
    text = read("/proc/cpuinfo") if text is None else text
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in (text or "").splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, _, value = line.partition(":")
        current[key.strip()] = value.strip()
    if current:
        blocks.append(current)
    return [b for b in blocks if "processor" in b]


def cpu_ids() -> list[int]:
    """Every logical CPU the kernel knows (``cpuN`` directories), online or not."""
    return sorted(int(name[3:]) for name in listdir(CPU_SYSFS) if name.startswith("cpu") and name[3:].isdigit())


def online_cpus() -> list[int]:
    text = read(f"{CPU_SYSFS}/online")
    return parse_cpulist(text) if text else list(range(os.cpu_count() or 1))


def topology_value(cpu: int, name: str) -> int | None:
    value = read(f"{CPU_SYSFS}/cpu{cpu}/topology/{name}")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def numa_node_of(cpu: int) -> int | None:
    for name in listdir(f"{CPU_SYSFS}/cpu{cpu}"):
        if name.startswith("node") and name[4:].isdigit():
            return int(name[4:])
    return None


STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice")


def read_stat() -> tuple[dict[str, list[int]], dict[str, int]]:
    """``/proc/stat``: per-CPU jiffy counters (``cpu`` = total) and the scalar counters."""
    cpus: dict[str, list[int]] = {}
    scalars: dict[str, int] = {}
    for line in (read("/proc/stat") or "").splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0].startswith("cpu"):
            cpus[fields[0]] = [int(x) for x in fields[1:]] + [0] * (len(STAT_FIELDS) - len(fields) + 1)
        elif len(fields) == 2:
            scalars[fields[0]] = int(fields[1])
        elif fields[0] in ("intr", "softirq"):
            scalars[fields[0]] = int(fields[1])
    return cpus, scalars
