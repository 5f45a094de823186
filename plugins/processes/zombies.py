"""Zombie processes and the parents that fail to reap them.

``proc.zombies`` scans ``/proc/*/stat`` for processes in state ``Z`` (exited,
waiting for their parent to collect the exit status) and reports each with
its age, and its parent's pid, name and command line. ``by_parent`` counts
zombies per parent: a zombie holds no memory but keeps its pid, so one parent
that leaks thousands can exhaust ``pid_max``. The fix is in the parent (make it
``wait()``, or restart it so init adopts and reaps them); killing a zombie does
nothing. Reads only.
"""

from __future__ import annotations

import os

import msgspec

from agent_core import ActionContext, NoParams, Plugin, Risk, action
from agent_core.procfs import pids, read

PLUGIN = Plugin("proc.zombies", domain="processes", requires_files=["/proc/self/stat"])


class Zombie(msgspec.Struct):
    pid: int
    name: str
    ppid: int
    parent: str
    parent_cmdline: str
    age_seconds: float


class ParentCount(msgspec.Struct):
    ppid: int
    name: str
    zombies: int


class Zombies(msgspec.Struct):
    zombies: list[Zombie]
    by_parent: list[ParentCount]
    pid_max: int | None


def parse_stat(text: str) -> tuple[str, str, int, int]:
    """``/proc/PID/stat`` -> (comm, state, ppid, starttime in clock ticks); comm may hold spaces and ')'."""
    left, _, right = text.rpartition(")")
    comm = left.partition("(")[2]
    fields = right.split()
    return comm, fields[0], int(fields[1]), int(fields[19])


@action("proc.zombies", risk=Risk.READ, timeout=30)
async def zombies(ctx: ActionContext, p: NoParams) -> Zombies:
    """Every zombie with its age and parent, and zombie counts per parent."""
    ticks = os.sysconf("SC_CLK_TCK")
    uptime = float((read("/proc/uptime") or "0").split()[0])
    found: list[Zombie] = []
    for pid in pids():
        text = read(f"/proc/{pid}/stat")
        if not text:
            continue
        comm, state, ppid, start = parse_stat(text)
        if state != "Z":
            continue
        parent_stat = read(f"/proc/{ppid}/stat")
        parent = parse_stat(parent_stat)[0] if parent_stat else ""
        cmdline = (read(f"/proc/{ppid}/cmdline") or "").replace("\0", " ").strip()
        found.append(
            Zombie(pid=pid, name=comm, ppid=ppid, parent=parent, parent_cmdline=cmdline[:512],
                   age_seconds=round(max(0.0, uptime - start / ticks), 2))  # fmt: skip
        )
    counts: dict[int, ParentCount] = {}
    for z in found:
        counts.setdefault(z.ppid, ParentCount(ppid=z.ppid, name=z.parent, zombies=0)).zombies += 1
    pid_max = read("/proc/sys/kernel/pid_max")
    return Zombies(
        zombies=found,
        by_parent=sorted(counts.values(), key=lambda c: (-c.zombies, c.ppid)),
        pid_max=int(pid_max) if pid_max and pid_max.isdigit() else None,
    )
