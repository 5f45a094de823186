"""Find the processes running a program, by name or command line (like ``pidof``/``pgrep``).

``exec.pidof`` scans ``/proc`` for processes whose name matches: the kernel's
command name, the basename of the executable or of ``argv[0]`` (as
``pidof`` does), or, with ``full``, a regular expression searched in the whole
command line (as ``pgrep -f``). Each hit comes with its parent, user, state,
executable, command line and start time. The agent itself is never listed.
It only reads.
"""

from __future__ import annotations

import os
import pwd
import re
from typing import Annotated

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, InvalidParams, Plugin, Risk, action
from agent_core.procfs import pgrep

PLUGIN = Plugin("exec.pidof", domain="exec")


class PidofParams(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    full: bool = False
    require: bool = False
    limit: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1000


class Proc(msgspec.Struct):
    pid: int
    ppid: int
    user: str
    state: str
    comm: str
    exe: str
    cmdline: str
    start_time: float


class PidofResult(msgspec.Struct):
    name: str
    pids: list[int]
    processes: list[Proc]


def _boot_time() -> float:
    with open("/proc/stat") as fh:
        for line in fh:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


def _proc(pid: int, boot: float, tick: int) -> Proc | None:
    base = f"/proc/{pid}"
    try:
        with open(f"{base}/stat") as fh:
            stat = fh.read()
        with open(f"{base}/cmdline", "rb") as fh:
            argv = [a.decode("utf-8", "replace") for a in fh.read().split(b"\x00") if a]
        uid = os.stat(base).st_uid
    except OSError:
        return None  # exited while we looked
    # comm may contain spaces and parentheses: it ends at the last ')'.
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    try:
        exe = os.readlink(f"{base}/exe")
    except OSError:
        exe = ""  # kernel threads and other users' processes without privilege
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    return Proc(
        pid=pid,
        ppid=int(fields[1]),
        user=user,
        state=fields[0],
        comm=comm,
        exe=exe.removesuffix(" (deleted)"),
        cmdline=" ".join(argv)[:4096],
        start_time=round(boot + int(fields[19]) / tick, 2),
    )


def _scan(name: str, regex: re.Pattern[str] | None, limit: int) -> list[Proc]:
    boot = _boot_time()
    tick = os.sysconf("SC_CLK_TCK")
    hits = pgrep(regex) if regex is not None else pgrep(name=name)
    found = [proc for proc in (_proc(hit.pid, boot, tick) for hit in hits) if proc is not None]
    return found[:limit]


@action("exec.pidof", risk=Risk.READ, timeout=30)
async def pidof(ctx: ActionContext, p: PidofParams) -> PidofResult:
    """Processes whose name (or, with ``full``, command line) matches ``name``."""
    regex = None
    if p.full:
        try:
            regex = re.compile(p.name)
        except re.error as exc:
            raise InvalidParams(f"name: {exc}") from exc
    procs = _scan(p.name, regex, p.limit)
    result = PidofResult(name=p.name, pids=[x.pid for x in procs], processes=procs)
    if p.require and not procs:
        raise ActionError(f"no process named {p.name!r}", code=ErrorCode.A017, data=result)
    return result
