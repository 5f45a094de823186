"""CPU model, counts, caches, frequency, flags and known vulnerabilities.

``hw.cpuinfo`` answers the first hardware questions about a host from
``/proc/cpuinfo`` and ``/sys/devices/system/cpu``: vendor and model,
microcode, sockets / cores / threads, online and offline CPUs, the cache
hierarchy (size, ways, how many CPUs share each cache), the frequency range
and governor, the CPU bugs the kernel reports with their mitigation status, and
whether given feature flags are present (``has: ["avx2", "aes"]``). Reads only.
"""

from __future__ import annotations

import platform

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from agent_core.procfs import listdir, parse_cpulist, read
from plugins.hardware._common import CPU_SYSFS, cpu_ids, cpuinfo_blocks, online_cpus, topology_value

PLUGIN = Plugin("hw.cpuinfo", domain="hardware", requires_files=["/proc/cpuinfo"])

NOTABLE = ("hypervisor", "vmx", "svm", "aes", "avx", "avx2", "avx512f", "sha_ni", "rdrand", "ht", "lm", "nx", "constant_tsc", "nonstop_tsc")
SIZE_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}


class Params(msgspec.Struct, forbid_unknown_fields=True):
    has: list[str] = []
    flags: bool = False


class Cache(msgspec.Struct):
    level: int
    type: str
    size: int
    ways: int | None
    line: int | None
    shared_by: int
    instances: int


class CpuInfo(msgspec.Struct):
    arch: str
    vendor: str
    model_name: str
    family: str
    model: str
    stepping: str
    microcode: str
    logical: int
    online: list[int]
    offline: list[int]
    sockets: int
    cores: int
    threads_per_core: int
    mhz: float | None
    min_mhz: float | None
    max_mhz: float | None
    governor: str
    caches: list[Cache]
    notable_flags: list[str]
    flag_count: int
    has: dict[str, bool]
    vulnerabilities: dict[str, str]
    vulnerable: list[str]
    flags: list[str] = []


def parse_size(text: str | None) -> int:
    """Cache sizes in sysfs: ``"48K"``, ``"2048K"``, ``"32M"``."""
    text = (text or "").strip()
    if not text:
        return 0
    if text[-1].upper() in SIZE_UNITS:
        return int(text[:-1]) * SIZE_UNITS[text[-1].upper()]
    return int(text)


def caches() -> list[Cache]:
    """Each distinct cache (level, type) with how many instances exist and CPUs per instance."""
    seen: dict[tuple[int, str], dict] = {}
    for cpu in cpu_ids():
        base = f"{CPU_SYSFS}/cpu{cpu}/cache"
        for index in listdir(base):
            if not index.startswith("index"):
                continue
            d = f"{base}/{index}"
            level = int(read(f"{d}/level") or 0)
            kind = read(f"{d}/type") or ""
            entry = seen.setdefault(
                (level, kind),
                {"size": parse_size(read(f"{d}/size")), "ways": read(f"{d}/ways_of_associativity"),
                 "line": read(f"{d}/coherency_line_size"), "groups": set()},
            )  # fmt: skip
            entry["groups"].add(read(f"{d}/shared_cpu_list") or str(cpu))
    out = []
    for (level, kind), e in sorted(seen.items()):
        groups = e["groups"]
        out.append(
            Cache(
                level=level,
                type=kind,
                size=e["size"],
                ways=int(e["ways"]) if e["ways"] and e["ways"].isdigit() else None,
                line=int(e["line"]) if e["line"] and e["line"].isdigit() else None,
                shared_by=max(len(parse_cpulist(g)) for g in groups),
                instances=len(groups),
            )
        )
    return out


def _khz(path: str) -> float | None:
    value = read(path)
    return round(int(value) / 1000.0, 1) if value and value.isdigit() else None


@action("hw.cpuinfo", risk=Risk.READ, timeout=10)
async def info(ctx: ActionContext, p: Params) -> CpuInfo:
    """Model, microcode, sockets/cores/threads, caches, frequency, vulnerabilities and feature flags."""
    blocks = cpuinfo_blocks()
    first = blocks[0] if blocks else {}
    flags = sorted(set((first.get("flags") or first.get("Features") or "").split()))
    ids = cpu_ids() or [int(b["processor"]) for b in blocks]
    online = online_cpus()
    packages = {topology_value(c, "physical_package_id") for c in online}
    cores = {(topology_value(c, "physical_package_id"), topology_value(c, "core_id")) for c in online}
    mhz = [float(b["cpu MHz"]) for b in blocks if "cpu MHz" in b]
    freq = f"{CPU_SYSFS}/cpu0/cpufreq"
    vulns = {name: read(f"{CPU_SYSFS}/vulnerabilities/{name}") or "" for name in listdir(f"{CPU_SYSFS}/vulnerabilities")}
    n_cores = len(cores) if None not in packages else len(online)
    return CpuInfo(
        arch=platform.machine(),
        vendor=first.get("vendor_id") or first.get("CPU implementer", ""),
        model_name=first.get("model name") or first.get("Processor") or first.get("cpu model", ""),
        family=first.get("cpu family", ""),
        model=first.get("model", ""),
        stepping=first.get("stepping", ""),
        microcode=first.get("microcode", ""),
        logical=len(ids),
        online=online,
        offline=[c for c in ids if c not in online],
        sockets=len(packages) if None not in packages else 1,
        cores=n_cores,
        threads_per_core=max(1, len(online) // max(1, n_cores)),
        mhz=round(sum(mhz) / len(mhz), 1) if mhz else _khz(f"{freq}/scaling_cur_freq"),
        min_mhz=_khz(f"{freq}/cpuinfo_min_freq"),
        max_mhz=_khz(f"{freq}/cpuinfo_max_freq"),
        governor=read(f"{freq}/scaling_governor") or "",
        caches=caches(),
        notable_flags=[f for f in NOTABLE if f in flags],
        flag_count=len(flags),
        has={name: name in flags for name in p.has},
        vulnerabilities=vulns,
        vulnerable=sorted(n for n, status in vulns.items() if status.startswith("Vulnerable")),
        flags=flags if p.flags else [],
    )
