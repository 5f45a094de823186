"""Deleted files still held open: the disk space that df counts and du cannot find.

``disk.deleted`` walks ``/proc/*/fd`` for descriptors whose target was unlinked
(``... (deleted)``), the classic cause of "the disk is full but du shows
nothing": a log rotated away while the daemon still writes to it. For each
file it reports the size, the filesystem it lives on, and every process and
descriptor holding it (one restart or truncation frees it); ``total`` per
filesystem shows how much space comes back. ``min_bytes`` hides small files.
Reads only; root sees every process.
"""

from __future__ import annotations

import os
from typing import Annotated

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from agent_core.procfs import pids, read
from plugins.disk._common import mount_for, mount_table

PLUGIN = Plugin("disk.deleted", domain="disk", requires_files=["/proc/self/fd"])

MARKER = " (deleted)"


class Params(msgspec.Struct, forbid_unknown_fields=True):
    min_bytes: Annotated[int, msgspec.Meta(ge=0)] = 0
    top: Annotated[int, msgspec.Meta(ge=1, le=10000)] = 100


class Holder(msgspec.Struct):
    pid: int
    name: str
    fd: int


class DeletedFile(msgspec.Struct):
    path: str
    size: int
    inode: int
    mountpoint: str
    holders: list[Holder]


class Deleted(msgspec.Struct):
    files: list[DeletedFile]
    total: int
    by_mount: dict[str, int]
    processes_scanned: int
    unreadable: int


def scan(min_bytes: int) -> tuple[dict[tuple[int, int], DeletedFile], int, int]:
    """Every open-but-unlinked regular file, keyed by (device, inode)."""
    found: dict[tuple[int, int], DeletedFile] = {}
    table = mount_table()
    scanned = unreadable = 0
    for pid in pids():
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            unreadable += 1
            continue
        scanned += 1
        name = None
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if not target.endswith(MARKER) or not target.startswith("/"):
                continue  # memfd:, anon_inode: and sockets are not files on a disk
            try:
                st = os.stat(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if st.st_nlink or st.st_size < min_bytes or not (st.st_mode & 0o170000 == 0o100000):
                continue  # still linked elsewhere (renamed), small, or not a regular file
            if name is None:
                name = read(f"/proc/{pid}/comm") or str(pid)
            key = (st.st_dev, st.st_ino)
            entry = found.get(key)
            if entry is None:
                path = target[: -len(MARKER)]
                holder_mount = mount_for(os.path.dirname(path) or "/", table)
                entry = found[key] = DeletedFile(
                    path=path, size=st.st_blocks * 512 if st.st_blocks else st.st_size, inode=st.st_ino,
                    mountpoint=holder_mount.mountpoint if holder_mount else "", holders=[],
                )  # fmt: skip
            entry.holders.append(Holder(pid=pid, name=name, fd=int(fd)))
    return found, scanned, unreadable


@action("disk.deleted", risk=Risk.READ, timeout=60)
async def deleted(ctx: ActionContext, p: Params) -> Deleted:
    """Unlinked files kept alive by open descriptors: size, filesystem and the processes holding them."""

    found, scanned, unreadable = await ctx.to_thread(scan, p.min_bytes)
    files = sorted(found.values(), key=lambda f: (-f.size, f.path))
    by_mount: dict[str, int] = {}
    for f in files:
        by_mount[f.mountpoint] = by_mount.get(f.mountpoint, 0) + f.size
    return Deleted(
        files=files[: p.top],
        total=sum(f.size for f in files),
        by_mount=by_mount,
        processes_scanned=scanned,
        unreadable=unreadable,
    )
