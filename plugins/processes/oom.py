"""Out-of-memory risk: which processes the OOM killer would pick first, and whom it already killed.

``proc.oom`` ranks processes by the kernel's ``oom_score`` (the victim order
when memory runs out) with their ``oom_score_adj`` (-1000 protects, +1000
volunteers) and resident memory, and lists the OOM kills still in the kernel
log (global and cgroup OOMs: time, victim pid and name, its memory) with the
host's total ``oom_kill`` counter. Use it after "my process vanished" and to
check that the critical daemons are protected. Reads only.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from agent_core.procfs import kib_value, parse_colon_kv, pids, read

PLUGIN = Plugin("proc.oom", domain="processes", requires_files=["/proc/self/oom_score"])

_KILLED = re.compile(
    r"(?P<scope>Memory cgroup out of memory|Out of memory)[^:]*: Killed process (?P<pid>\d+) \((?P<name>[^)]*)\)"
    r"(?:.*?total-vm:(?P<vm>\d+)kB)?(?:.*?anon-rss:(?P<rss>\d+)kB)?"
)


class Params(msgspec.Struct, forbid_unknown_fields=True):
    top: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 10


class Candidate(msgspec.Struct):
    pid: int
    name: str
    oom_score: int
    oom_score_adj: int
    rss: int


class Kill(msgspec.Struct):
    seconds: float
    scope: str
    pid: int
    name: str
    total_vm: int | None
    anon_rss: int | None


class Oom(msgspec.Struct):
    candidates: list[Candidate]
    protected: list[str]
    kills: list[Kill]
    oom_kill_total: int | None
    kernel_log_readable: bool


def parse_kills(records: list[tuple[int, int, float, str]]) -> list[Kill]:
    out = []
    for _, _, seconds, message in records:
        m = _KILLED.search(message)
        if m:
            out.append(
                Kill(
                    seconds=seconds, scope="cgroup" if m.group("scope").startswith("Memory cgroup") else "global",
                    pid=int(m.group("pid")), name=m.group("name"),
                    total_vm=int(m.group("vm")) * 1024 if m.group("vm") else None,
                    anon_rss=int(m.group("rss")) * 1024 if m.group("rss") else None,
                )  # fmt: skip
            )
    return out


def candidates() -> tuple[list[Candidate], list[str]]:
    found, protected = [], []
    for pid in pids():
        score, adj = read(f"/proc/{pid}/oom_score"), read(f"/proc/{pid}/oom_score_adj")
        status = parse_colon_kv(read(f"/proc/{pid}/status") or "")
        if score is None or adj is None or not status:
            continue
        name = status.get("Name", "")
        if int(adj) == -1000:
            protected.append(f"{name}[{pid}]")
        found.append(Candidate(pid=pid, name=name, oom_score=int(score), oom_score_adj=int(adj), rss=kib_value(status.get("VmRSS", "0 kB"))))
    found.sort(key=lambda c: (-c.oom_score, -c.rss, c.pid))
    return found, protected


@action("proc.oom", risk=Risk.READ, timeout=30)
async def oom(ctx: ActionContext, p: Params) -> Oom:
    """Processes the OOM killer would pick first (score, adj, RSS) and the OOM kills in the kernel log."""
    from plugins.system.dmesg import read_kmsg

    found, protected = candidates()
    try:
        kills, readable = parse_kills(read_kmsg()), True
    except OSError:
        kills, readable = [], False
    vmstat = dict(line.split() for line in (read("/proc/vmstat") or "").splitlines() if line.startswith("oom_kill "))
    return Oom(
        candidates=found[: p.top],
        protected=protected,
        kills=kills,
        oom_kill_total=int(vmstat["oom_kill"]) if "oom_kill" in vmstat else None,
        kernel_log_readable=readable,
    )
