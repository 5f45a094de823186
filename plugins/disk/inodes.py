"""Inode use per filesystem, and which directories hold the most files.

``disk.inodes`` reports, per data filesystem, the inode total, used, free and
use% from ``statvfs`` ("No space left on device" with free blocks means the
inodes ran out, typically from millions of small session or cache files).
Filesystems that allocate inodes dynamically (btrfs, xfs with ``imaxpct``
free, zfs) report no fixed total and are marked ``dynamic``. With ``count_in``
it also counts the entries below each immediate subdirectory of that path,
staying on its filesystem and stopping after ``max_entries``, to find the
directory to clean. Reads only.
"""

from __future__ import annotations

import os
from typing import Annotated

import msgspec

from agent_core import ActionContext, NotFound, Plugin, Risk, abs_path, action
from agent_core.procfs import is_dir
from plugins.disk._common import distinct_filesystems, mount_table, statvfs_each

PLUGIN = Plugin("disk.inodes", domain="disk", requires_files=["/proc/self/mountinfo"])


class Params(msgspec.Struct, forbid_unknown_fields=True):
    threshold: Annotated[float, msgspec.Meta(ge=0, le=100)] = 90.0
    count_in: str | None = None
    top: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20
    max_entries: Annotated[int, msgspec.Meta(ge=1, le=100_000_000)] = 2_000_000


class InodeUsage(msgspec.Struct):
    mountpoint: str
    fstype: str
    total: int
    used: int
    free: int
    used_percent: float
    dynamic: bool
    error: str = ""


class DirCount(msgspec.Struct):
    path: str
    entries: int


class Inodes(msgspec.Struct):
    filesystems: list[InodeUsage]
    over_threshold: list[str]
    top_dirs: list[DirCount] = []
    counted: int = 0
    truncated: bool = False


def count_entries(root: str, top: int, limit: int) -> tuple[list[DirCount], int, bool]:
    """Entries below each child directory of ``root`` (one filesystem, no symlinks followed)."""
    root_dev = os.lstat(root).st_dev
    counts: list[DirCount] = []
    total = 0
    truncated = False
    with os.scandir(root) as it:
        children = [e for e in it if e.is_dir(follow_symlinks=False)]
    total += 1
    for child in children:
        n = 0
        stack = [child.path]
        while stack and not truncated:
            path = stack.pop()
            try:
                with os.scandir(path) as it:
                    for entry in it:
                        n += 1
                        total += 1
                        if total >= limit:
                            truncated = True
                            break
                        if entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_dev == root_dev:
                            stack.append(entry.path)
            except OSError:
                continue
        counts.append(DirCount(path=child.path, entries=n))
        if truncated:
            break
    counts.sort(key=lambda c: (-c.entries, c.path))
    return counts[:top], total, truncated


@action("disk.inodes", risk=Risk.READ, timeout=300)
async def inodes(ctx: ActionContext, p: Params) -> Inodes:
    """Inode total/used/free/use% per filesystem; with ``count_in``, the subdirectories holding the most entries."""
    table = [m for m, _ in distinct_filesystems(mount_table())]
    stats = await statvfs_each([m.mountpoint for m in table])
    fs = []
    for m in table:
        st = stats[m.mountpoint]
        if not isinstance(st, os.statvfs_result):
            fs.append(InodeUsage(mountpoint=m.mountpoint, fstype=m.fstype, total=0, used=0, free=0, used_percent=0.0, dynamic=False, error=str(st)))
            continue
        used = st.f_files - st.f_ffree
        fs.append(
            InodeUsage(
                mountpoint=m.mountpoint,
                fstype=m.fstype,
                total=st.f_files,
                used=used,
                free=st.f_ffree,
                used_percent=round(100.0 * used / st.f_files, 2) if st.f_files else 0.0,
                dynamic=st.f_files == 0,
            )
        )
    result = Inodes(filesystems=fs, over_threshold=[f.mountpoint for f in fs if not f.dynamic and f.used_percent >= p.threshold])
    if p.count_in is not None:
        root = abs_path(p.count_in, "count_in")
        if not is_dir(root):
            raise NotFound(f"{root} is not a directory")

        result.top_dirs, result.counted, result.truncated = await ctx.to_thread(
            count_entries, root, p.top, p.max_entries
        )
    return result
