"""Helpers shared by the disk plugins: the mount table and time-boxed statvfs."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import msgspec

from agent_core.procfs import read

# Filesystems that hold no user data: never counted as "disks".
PSEUDO_FS = frozenset({
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "securityfs", "debugfs", "tracefs",
    "pstore", "bpf", "mqueue", "hugetlbfs", "configfs", "fusectl", "binfmt_misc", "autofs", "rpc_pipefs",
    "nsfs", "selinuxfs", "efivarfs", "ramfs", "fuse.gvfsd-fuse", "fuse.portal", "nfsd", "sockfs", "pipefs",
})  # fmt: skip
NETWORK_FS = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "fuse.sshfs", "9p", "afs", "lustre"})
STATVFS_TIMEOUT = 5.0  # a dead NFS server makes statvfs hang; never let it hang the agent


class Mount(msgspec.Struct):
    id: int
    parent: int
    dev: str
    root: str
    mountpoint: str
    options: list[str]
    propagation: list[str]
    fstype: str
    source: str
    super_options: list[str]

    @property
    def read_only(self) -> bool:
        return "ro" in self.options or "ro" in self.super_options


def unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) + 1 and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    """Parse ``/proc/PID/mountinfo`` (see proc(5)): one mount per line, optional fields before ``-``."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        f, r = left.split(), right.split()
        if len(f) < 6 or len(r) < 2:
            continue
        mounts.append(
            Mount(
                id=int(f[0]),
                parent=int(f[1]),
                dev=f[2],
                root=unescape(f[3]),
                mountpoint=unescape(f[4]),
                options=f[5].split(","),
                propagation=f[6:],
                fstype=r[0],
                source=unescape(r[1]),
                super_options=r[2].split(",") if len(r) > 2 else [],
            )
        )
    return mounts


def mount_table() -> list[Mount]:
    """The mounts of this mount namespace, from ``/proc/self/mountinfo``."""
    return parse_mountinfo(read("/proc/self/mountinfo") or "")


def mount_for(path: str, table: list[Mount]) -> Mount | None:
    """The mount that holds ``path``: the last-mounted one with the longest matching mount point."""
    real = os.path.realpath(path)
    best: Mount | None = None
    for m in table:
        mp = m.mountpoint
        if real == mp or real.startswith(mp.rstrip("/") + "/"):
            if best is None or len(mp) >= len(best.mountpoint):
                best = m
    return best


def is_data_fs(m: Mount) -> bool:
    return m.fstype not in PSEUDO_FS


def distinct_filesystems(table: list[Mount], include_pseudo: bool = False) -> list[tuple[Mount, list[str]]]:
    """One entry per filesystem, as df shows them, each with its other mount points.

    A mount point mounted over hides the earlier mount (only the top one is
    reachable); a device mounted several times (bind mounts) is one filesystem,
    represented by its mount of the filesystem root when there is one.
    """
    visible: dict[str, Mount] = {}
    for m in table:
        if include_pseudo or is_data_fs(m):
            visible.pop(m.mountpoint, None)
            visible[m.mountpoint] = m
    groups: dict[str, list[Mount]] = {}
    for m in visible.values():
        # Pseudo filesystems all report device 0:N, distinct per instance, so the key holds.
        groups.setdefault(m.dev, []).append(m)
    out = []
    for group in groups.values():
        primary = next((m for m in group if m.root == "/"), group[0])
        out.append((primary, [m.mountpoint for m in group if m is not primary]))
    return out


async def statvfs_each(paths: list[str], fn: Callable[[str], Any] = os.statvfs) -> dict[str, Any]:
    """``statvfs`` every path in a worker thread, each boxed by :data:`STATVFS_TIMEOUT`.

    A path whose call hangs or fails maps to an error string instead of a result.
    """
    import trio

    out: dict[str, Any] = {}

    async def one(path: str) -> None:
        with trio.move_on_after(STATVFS_TIMEOUT):
            try:
                out[path] = await trio.to_thread.run_sync(fn, path, abandon_on_cancel=True)
            except OSError as exc:
                out[path] = f"{exc.strerror or exc}"
            return
        out[path] = f"statvfs did not answer within {STATVFS_TIMEOUT:g}s (hung network filesystem?)"

    async with trio.open_nursery() as nursery:
        for path in paths:
            nursery.start_soon(one, path)
    return out
