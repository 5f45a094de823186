"""Open files of a process, like lsof -p: files, sockets with addresses, pipes, devices, modes.

``proc.openfiles`` reads ``/proc/PID/fd`` and ``/proc/PID/fdinfo``: every open
descriptor with its kind (``file``, ``deleted``, ``dir``, ``dev``, ``socket``,
``pipe``, ``anon``), target, access mode (``r``, ``w``, ``rw``, plus ``append``)
and file offset; sockets are resolved through the process's own
``/proc/PID/net`` tables to protocol, local and remote address and TCP state
(or the path of a unix socket). It also reports the open-files limit and how
close the process is to it, the cause of "Too many open files". ``kinds``
filters. Reads only; root sees every process.
"""

from __future__ import annotations

import os
from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    action,
)
from agent_core.procfs import read, read_sockets
from plugins.processes._common import get_process

PLUGIN = Plugin("proc.openfiles", domain="processes", requires_files=["/proc/self/fd"])

KINDS = ("file", "deleted", "dir", "dev", "socket", "pipe", "anon", "other")
O_ACCMODE, O_APPEND = 0o3, 0o2000


class Params(msgspec.Struct, forbid_unknown_fields=True):
    pid: int
    kinds: list[str] = []
    limit: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 5000


class SocketInfo(msgspec.Struct):
    proto: str
    local: str = ""
    remote: str = ""
    state: str = ""
    path: str = ""


class OpenFile(msgspec.Struct):
    fd: int
    kind: str
    target: str
    mode: str
    pos: int | None
    socket: SocketInfo | None = None


class OpenFiles(msgspec.Struct):
    pid: int
    name: str
    files: list[OpenFile]
    counts: dict[str, int]
    total: int
    limit_soft: int | None
    limit_used_percent: float | None


def socket_table(pid: int) -> dict[str, SocketInfo]:
    """Socket inode -> what it is, from the tables of the process's network namespace."""
    table: dict[str, SocketInfo] = {}
    for row in read_sockets(proc=f"/proc/{pid}/net"):
        v6 = row.proto.endswith("6")
        local = f"[{row.local}]:{row.lport}" if v6 else f"{row.local}:{row.lport}"
        remote = f"[{row.remote}]:{row.rport}" if v6 else f"{row.remote}:{row.rport}"
        state = row.state if row.proto.startswith("tcp") else ""
        table[str(row.inode)] = SocketInfo(proto=row.proto, local=local, remote=remote, state=state)
    for line in (read(f"/proc/{pid}/net/unix") or "").splitlines()[1:]:
        f = line.split()
        if len(f) >= 7:
            table[f[6]] = SocketInfo(proto="unix", path=f[7] if len(f) > 7 else "")
    return table


def _kind(target: str) -> str:
    if target.startswith("socket:"):
        return "socket"
    if target.startswith("pipe:"):
        return "pipe"
    if target.startswith("anon_inode:"):
        return "anon"
    if target.endswith(" (deleted)"):
        return "deleted"
    if target.startswith("/dev/"):
        return "dev"
    if target.startswith("/"):
        return "dir" if os.path.isdir(target) else "file"
    return "other"


def _fdinfo(pid: int, fd: str) -> tuple[str, int | None]:
    info = dict(line.split(":", 1) for line in (read(f"/proc/{pid}/fdinfo/{fd}") or "").splitlines() if ":" in line)
    flags = int(info.get("flags", "0").strip(), 8)
    mode = {0: "r", 1: "w", 2: "rw"}.get(flags & O_ACCMODE, "?")
    if flags & O_APPEND:
        mode += ",append"
    pos = info.get("pos")
    return mode, int(pos) if pos is not None else None


def open_files(pid: int, kinds: set[str], limit: int) -> tuple[list[OpenFile], dict[str, int], int]:
    try:
        fds = sorted(os.listdir(f"/proc/{pid}/fd"), key=int)
    except FileNotFoundError:
        raise NotFound(f"no process with pid {pid}") from None
    sockets: dict[str, SocketInfo] | None = None
    files: list[OpenFile] = []
    counts: dict[str, int] = {}
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        kind = _kind(target)
        counts[kind] = counts.get(kind, 0) + 1
        if (kinds and kind not in kinds) or len(files) >= limit:
            continue
        mode, pos = _fdinfo(pid, fd)
        entry = OpenFile(fd=int(fd), kind=kind, target=target, mode=mode, pos=pos)
        if kind == "socket":
            if sockets is None:
                sockets = socket_table(pid)
            entry.socket = sockets.get(target[len("socket:[") : -1])
        files.append(entry)
    return files, counts, len(fds)


@action("proc.openfiles", risk=Risk.READ, timeout=30)
async def files(ctx: ActionContext, p: Params) -> OpenFiles:
    """Every open descriptor of ``pid`` with kind, target, mode, offset and socket addresses, and its fd limit use."""
    bad = [k for k in p.kinds if k not in KINDS]
    if bad:
        raise InvalidParams(f"unknown kinds {bad}; use {', '.join(KINDS)}")
    proc = get_process(p.pid)
    found, counts, total = open_files(p.pid, set(p.kinds), p.limit)
    soft = None
    for line in (read(f"/proc/{p.pid}/limits") or "").splitlines():
        if line.startswith("Max open files"):
            value = line.split()[3]
            soft = int(value) if value.isdigit() else None
    return OpenFiles(
        pid=p.pid,
        name=proc.name(),
        files=found,
        counts=counts,
        total=total,
        limit_soft=soft,
        limit_used_percent=round(100.0 * total / soft, 2) if soft else None,
    )
