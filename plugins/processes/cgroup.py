"""The cgroup of a process and the limits it runs under: memory, CPU quota, pids, cpuset.

``proc.cgroup`` finds where ``pid`` sits in every cgroup hierarchy (v2
unified, v1 per controller, or both on hybrid hosts), locates each hierarchy's
mount point, and reads the limits and counters that explain a slow or killed
process: memory limit, usage, peak and OOM kills; CPU quota (as cores), weight
or shares, and throttling (periods throttled and seconds lost); pid limit and
count; allowed CPUs and memory nodes. ``pressure`` names the limits the
process is close to or has hit. Reads only.
"""

from __future__ import annotations

import os

import msgspec

from agent_core import ActionContext, NotFound, Plugin, Risk, action
from agent_core.procfs import read
from plugins.disk import mount_table
from plugins.processes._common import get_process

PLUGIN = Plugin("proc.cgroup", domain="processes", requires_files=["/proc/self/cgroup"])

UNLIMITED = 1 << 62  # v1 reports "no limit" as PAGE_COUNTER_MAX, a number just under 2**63


class Params(msgspec.Struct, forbid_unknown_fields=True):
    pid: int


class Memory(msgspec.Struct):
    limit: int | None = None
    high: int | None = None
    usage: int | None = None
    peak: int | None = None
    swap_limit: int | None = None
    oom_kills: int | None = None
    failcnt: int | None = None


class Cpu(msgspec.Struct):
    quota_cores: float | None = None
    weight: int | None = None
    shares: int | None = None
    periods: int | None = None
    throttled_periods: int | None = None
    throttled_seconds: float | None = None
    cpus: str = ""
    mems: str = ""


class Pids(msgspec.Struct):
    limit: int | None = None
    current: int | None = None


class CgroupInfo(msgspec.Struct):
    pid: int
    version: str
    paths: dict[str, str]
    dirs: dict[str, str]
    memory: Memory
    cpu: Cpu
    pids: Pids
    pressure: list[str]


def _num(path: str) -> int | None:
    text = read(path)
    if text is None or text.strip() in ("", "max"):
        return None
    try:
        value = int(text.split()[0])
    except ValueError:
        return None
    return None if value >= UNLIMITED else value


def _kv(path: str) -> dict[str, int]:
    out = {}
    for line in (read(path) or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def hierarchy_dirs(pid: int) -> tuple[dict[str, str], dict[str, str]]:
    """controller ("" for the v2 unified tree) -> cgroup path, and -> directory on disk."""
    paths: dict[str, str] = {}
    for line in (read(f"/proc/{pid}/cgroup") or "").splitlines():
        hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hid == "0" and not controllers:
            paths[""] = path
        else:
            for c in controllers.split(","):
                if c:
                    paths[c.removeprefix("name=")] = path
    found: dict[str, tuple[str, str]] = {}  # controller -> (mount point, root of the mount)
    for m in mount_table():
        if m.fstype == "cgroup2" and "" in paths:
            found[""] = (m.mountpoint, m.root)
        elif m.fstype == "cgroup":
            for opt in m.super_options:
                name = opt.removeprefix("name=")
                if name in paths:
                    found[name] = (m.mountpoint, m.root)
    dirs = {}
    for key, (mountpoint, root) in found.items():
        rel = paths[key]
        if root != "/" and rel.startswith(root):
            rel = rel[len(root) :]  # a cgroup namespace shows paths relative to its root
        dirs[key] = os.path.normpath(mountpoint + "/" + rel.lstrip("/"))
    return paths, dirs


def read_v2(d: str, mem: Memory, cpu: Cpu, pids: Pids) -> None:
    mem.limit, mem.high, mem.usage = _num(f"{d}/memory.max"), _num(f"{d}/memory.high"), _num(f"{d}/memory.current")
    mem.peak, mem.swap_limit = _num(f"{d}/memory.peak"), _num(f"{d}/memory.swap.max")
    events = _kv(f"{d}/memory.events")
    if events:
        mem.oom_kills = events.get("oom_kill")
    quota = (read(f"{d}/cpu.max") or "").split()
    if len(quota) == 2 and quota[0] != "max":
        cpu.quota_cores = round(int(quota[0]) / int(quota[1]), 3)
    cpu.weight = _num(f"{d}/cpu.weight")
    stat = _kv(f"{d}/cpu.stat")
    if "nr_periods" in stat:
        cpu.periods, cpu.throttled_periods = stat["nr_periods"], stat.get("nr_throttled")
        cpu.throttled_seconds = stat.get("throttled_usec", 0) / 1e6
    pids.limit, pids.current = _num(f"{d}/pids.max"), _num(f"{d}/pids.current")
    cpu.cpus = (read(f"{d}/cpuset.cpus.effective") or "").strip()
    cpu.mems = (read(f"{d}/cpuset.mems.effective") or "").strip()


def read_v1(dirs: dict[str, str], mem: Memory, cpu: Cpu, pids: Pids) -> None:
    if "memory" in dirs:
        d = dirs["memory"]
        mem.limit, mem.usage = _num(f"{d}/memory.limit_in_bytes"), _num(f"{d}/memory.usage_in_bytes")
        mem.peak, mem.failcnt = _num(f"{d}/memory.max_usage_in_bytes"), _num(f"{d}/memory.failcnt")
        mem.swap_limit = _num(f"{d}/memory.memsw.limit_in_bytes")
        oom = _kv(f"{d}/memory.oom_control")
        if "oom_kill" in oom:
            mem.oom_kills = oom["oom_kill"]
    if "cpu" in dirs:
        d = dirs["cpu"]
        quota, period = _num(f"{d}/cpu.cfs_quota_us"), _num(f"{d}/cpu.cfs_period_us")
        if quota is not None and quota > 0 and period:
            cpu.quota_cores = round(quota / period, 3)
        cpu.shares = _num(f"{d}/cpu.shares")
        stat = _kv(f"{d}/cpu.stat")
        if "nr_periods" in stat:
            cpu.periods, cpu.throttled_periods = stat["nr_periods"], stat.get("nr_throttled")
            cpu.throttled_seconds = stat.get("throttled_time", 0) / 1e9
    if "pids" in dirs:
        pids.limit, pids.current = _num(f"{dirs['pids']}/pids.max"), _num(f"{dirs['pids']}/pids.current")
    if "cpuset" in dirs:
        cpu.cpus = (read(f"{dirs['cpuset']}/cpuset.cpus") or "").strip()
        cpu.mems = (read(f"{dirs['cpuset']}/cpuset.mems") or "").strip()


def pressure(mem: Memory, cpu: Cpu, pids: Pids) -> list[str]:
    out = []
    if mem.limit and mem.usage is not None and mem.usage >= 0.9 * mem.limit:
        out.append(f"memory at {100 * mem.usage / mem.limit:.0f}% of its limit")
    if mem.oom_kills:
        out.append(f"{mem.oom_kills} OOM kill(s) in this cgroup")
    if cpu.periods and cpu.throttled_periods and cpu.throttled_periods / cpu.periods >= 0.1:
        out.append(f"CPU throttled in {100 * cpu.throttled_periods / cpu.periods:.0f}% of periods")
    if pids.limit and pids.current is not None and pids.current >= 0.9 * pids.limit:
        out.append(f"pids at {pids.current}/{pids.limit}")
    return out


def collect(pid: int) -> CgroupInfo:
    paths, dirs = hierarchy_dirs(pid)
    if not paths:
        raise NotFound(f"process {pid} exited")
    mem, cpu, pids = Memory(), Cpu(), Pids()
    v1 = [k for k in dirs if k]
    if v1:
        read_v1(dirs, mem, cpu, pids)
    # On hybrid hosts the v2 tree holds no controllers; reading it then only fills gaps.
    if "" in dirs and os.path.exists(f"{dirs['']}/cgroup.controllers"):
        v2_mem, v2_cpu, v2_pids = Memory(), Cpu(), Pids()
        read_v2(dirs[""], v2_mem, v2_cpu, v2_pids)
        for target, source in ((mem, v2_mem), (cpu, v2_cpu), (pids, v2_pids)):
            for field in target.__struct_fields__:
                if getattr(target, field) in (None, "") and getattr(source, field) not in (None, ""):
                    setattr(target, field, getattr(source, field))
    version = "hybrid" if v1 and "" in paths else ("v1" if v1 else "v2")
    return CgroupInfo(
        pid=pid, version=version, paths={k or "unified": v for k, v in paths.items()},
        dirs={k or "unified": v for k, v in dirs.items()}, memory=mem, cpu=cpu, pids=pids, pressure=pressure(mem, cpu, pids),
    )  # fmt: skip


@action("proc.cgroup", risk=Risk.READ, timeout=10)
async def cgroup(ctx: ActionContext, p: Params) -> CgroupInfo:
    """Cgroup paths of ``pid`` and its memory, CPU quota/throttling, pids and cpuset limits."""
    get_process(p.pid)
    return collect(p.pid)
