"""Kernel-wide tables and their limits: file handles, pids, threads, inotify, AIO, keys, conntrack.

``kernel.limits`` reports, for each kernel table that can fill up and break
unrelated programs, its current use, its limit and the share used: open file
handles (``fs.file-nr`` against ``fs.file-max``), tasks against
``kernel.pid_max`` and ``kernel.threads-max``, inotify watches and instances of
the busiest user against ``fs.inotify.max_user_*`` ("no space left on device"
from a file watcher), async I/O contexts (``fs.aio-nr``), the keyring quota of
the busiest user, and netfilter connection tracking (``nf_conntrack: table
full, dropping packet``). ``warnings`` lists tables at or over ``threshold``
percent. Reads only.
"""

from __future__ import annotations

import os
from typing import Annotated

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from agent_core.procfs import listdir, pids, read, read_int

PLUGIN = Plugin("kernel.limits", domain="kernel", requires_files=["/proc/sys/fs/file-nr"])


class Params(msgspec.Struct, forbid_unknown_fields=True):
    threshold: Annotated[float, msgspec.Meta(gt=0, le=100)] = 80.0


class Table(msgspec.Struct):
    name: str
    used: int
    limit: int | None
    percent: float | None
    scope: str
    setting: str


class KernelLimits(msgspec.Struct):
    tables: list[Table]
    warnings: list[str]
    nr_open: int | None
    inodes_in_use: int | None


def _table(name: str, used: int, limit: int | None, scope: str, setting: str) -> Table:
    pct = round(100.0 * used / limit, 2) if limit else None
    return Table(name=name, used=used, limit=limit, percent=pct, scope=scope, setting=setting)


def task_count() -> int:
    """Every task (thread) on the host: what pid_max and threads-max bound."""
    n = 0
    for pid in pids():
        n += len(listdir(f"/proc/{pid}/task")) or 1
    return n


def inotify_usage() -> tuple[dict[int, int], dict[int, int]]:
    """Per uid: inotify watches and inotify instances, from every process's fdinfo."""
    watches: dict[int, int] = {}
    instances: dict[int, int] = {}
    for pid in pids():
        fd_dir = f"/proc/{pid}/fd"
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") != "anon_inode:inotify":
                    continue
            except OSError:
                continue
            instances[uid] = instances.get(uid, 0) + 1
            info = read(f"/proc/{pid}/fdinfo/{fd}") or ""
            watches[uid] = watches.get(uid, 0) + sum(1 for line in info.splitlines() if line.startswith("inotify wd:"))
    return watches, instances


def key_users() -> list[tuple[int, int, int, int, int]]:
    """``/proc/key-users``: (uid, keys, max keys, bytes, max bytes)."""
    out = []
    for line in (read("/proc/key-users") or "").splitlines():
        f = line.split()
        if len(f) >= 5:
            keys, maxkeys = f[3].split("/")
            nbytes, maxbytes = f[4].split("/")
            out.append((int(f[0].rstrip(":")), int(keys), int(maxkeys), int(nbytes), int(maxbytes)))
    return out


def collect() -> list[Table]:
    tables = []
    file_nr = (read("/proc/sys/fs/file-nr") or "0 0 0").split()
    tables.append(_table("file handles", int(file_nr[0]) - int(file_nr[1]), int(file_nr[2]), "host", "fs.file-max"))
    tasks = task_count()
    tables.append(_table("pids", tasks, read_int("/proc/sys/kernel/pid_max"), "host", "kernel.pid_max"))
    tables.append(_table("threads", tasks, read_int("/proc/sys/kernel/threads-max"), "host", "kernel.threads-max"))
    watches, instances = inotify_usage()
    w_uid = max(watches, key=lambda u: watches[u], default=0)
    i_uid = max(instances, key=lambda u: instances[u], default=0)
    tables.append(_table("inotify watches", watches.get(w_uid, 0), read_int("/proc/sys/fs/inotify/max_user_watches"), f"uid {w_uid}", "fs.inotify.max_user_watches"))
    tables.append(_table("inotify instances", instances.get(i_uid, 0), read_int("/proc/sys/fs/inotify/max_user_instances"), f"uid {i_uid}", "fs.inotify.max_user_instances"))
    aio = read_int("/proc/sys/fs/aio-nr")
    if aio is not None:
        tables.append(_table("aio contexts", aio, read_int("/proc/sys/fs/aio-max-nr"), "host", "fs.aio-max-nr"))
    users = key_users()
    if users:
        uid, keys, maxkeys, _, _ = max(users, key=lambda u: u[1] / u[2] if u[2] else 0)
        tables.append(_table("keys", keys, maxkeys, f"uid {uid}", "kernel.keys.maxkeys" if uid else "kernel.keys.root_maxkeys"))
    count = read_int("/proc/sys/net/netfilter/nf_conntrack_count")
    if count is not None:
        tables.append(_table("conntrack entries", count, read_int("/proc/sys/net/netfilter/nf_conntrack_max"), "netns", "net.netfilter.nf_conntrack_max"))
    return tables


@action("kernel.limits", risk=Risk.READ, timeout=30)
async def limits(ctx: ActionContext, p: Params) -> KernelLimits:
    """Use vs limit of file handles, pids, threads, inotify, AIO, keys and conntrack, with warnings."""
    tables = collect()
    inode_nr = (read("/proc/sys/fs/inode-nr") or "").split()
    return KernelLimits(
        tables=tables,
        warnings=[f"{t.name}: {t.used}/{t.limit} ({t.percent}%, raise {t.setting})" for t in tables if t.percent is not None and t.percent >= p.threshold],
        nr_open=read_int("/proc/sys/fs/nr_open"),
        inodes_in_use=int(inode_nr[0]) - int(inode_nr[1]) if len(inode_nr) >= 2 else None,
    )
