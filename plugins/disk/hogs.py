"""Why is this filesystem full: its biggest directories, biggest files and deleted-but-open space.

``disk.hogs`` answers a disk-full alert in one call. For the filesystem that
holds ``path`` it reports the usage from ``statvfs``, then walks the tree under
``path`` without leaving that filesystem (bind and other mounts below are
skipped, symlinks not followed, hard links counted once) and returns the
``top`` directories by the space of everything below them, down to ``depth``
levels, and the ``top`` largest single files anywhere in the tree; finally the
space held by deleted files that processes keep open on the same filesystem
(what ``du`` can never see). Space is allocated blocks, as ``df`` counts it.
The walk stops after ``max_entries`` and says so. Reads only. For one
directory's own breakdown see ``file.du``.
"""

from __future__ import annotations

import heapq
import os
import stat
from typing import Annotated

import msgspec

from agent_core import ActionContext, NotFound, Plugin, Risk, abs_path, action
from agent_core.procfs import is_dir
from plugins.disk._common import mount_for, mount_table

PLUGIN = Plugin("disk.hogs", domain="disk", requires_files=["/proc/self/mountinfo"])


class Params(msgspec.Struct, forbid_unknown_fields=True):
    path: str = "/"
    depth: Annotated[int, msgspec.Meta(ge=1, le=10)] = 2
    top: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 15
    max_entries: Annotated[int, msgspec.Meta(ge=1, le=100_000_000)] = 2_000_000


class Entry(msgspec.Struct):
    path: str
    bytes: int


class Hogs(msgspec.Struct):
    mountpoint: str
    fstype: str
    fs_size: int
    fs_used: int
    fs_available: int
    scanned_bytes: int
    directories: list[Entry]
    files: list[Entry]
    deleted_open_bytes: int
    deleted_open: list[Entry]
    entries: int
    truncated: bool
    errors: int


def walk(root: str, depth: int, top: int, limit: int) -> tuple[list[Entry], list[Entry], int, int, bool, int]:
    """(top dirs, top files, bytes seen, entries seen, truncated, unreadable dirs) below ``root``."""
    dev = os.lstat(root).st_dev
    root_depth = root.rstrip("/").count("/") if root != "/" else 0
    dir_bytes: dict[str, int] = {}
    biggest: list[tuple[int, str]] = []  # min-heap of the largest files
    seen_inodes: set[int] = set()
    total = entries = errors = 0
    truncated = False
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            it = os.scandir(d)
        except OSError:
            errors += 1
            continue
        with it:
            for e in it:
                entries += 1
                if entries >= limit:
                    truncated = True
                    break
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if st.st_dev != dev:
                    continue  # another filesystem mounted below
                if stat.S_ISDIR(st.st_mode):
                    stack.append(e.path)
                    continue
                if st.st_nlink > 1:
                    if st.st_ino in seen_inodes:
                        continue
                    seen_inodes.add(st.st_ino)
                size = st.st_blocks * 512
                total += size
                if stat.S_ISREG(st.st_mode):
                    item = (size, e.path)
                    if len(biggest) < top:
                        heapq.heappush(biggest, item)
                    elif item > biggest[0]:
                        heapq.heapreplace(biggest, item)
                # Charge the file to each ancestor directory within ``depth`` levels of root.
                parent = os.path.dirname(e.path)
                while True:
                    level = (parent.rstrip("/").count("/") if parent != "/" else 0) - root_depth
                    if level <= depth and parent != root:
                        dir_bytes[parent] = dir_bytes.get(parent, 0) + size
                    if parent == root or len(parent) <= len(root):
                        break
                    parent = os.path.dirname(parent)
        if truncated:
            break
    dirs = sorted((Entry(path=p, bytes=b) for p, b in dir_bytes.items()), key=lambda x: (-x.bytes, x.path))[:top]
    files = [Entry(path=p, bytes=b) for b, p in sorted(biggest, reverse=True)]
    return dirs, files, total, entries, truncated, errors


@action("disk.hogs", risk=Risk.READ, timeout=600)
async def hogs(ctx: ActionContext, p: Params) -> Hogs:
    """Biggest directories and files under ``path`` on its filesystem, plus deleted-but-open space there."""

    from plugins.disk.deleted import scan

    root = abs_path(p.path)
    if not is_dir(root):
        raise NotFound(f"{root} is not a directory")
    m = mount_for(root, mount_table())
    st = await ctx.to_thread(os.statvfs, root)
    dirs, files, total, entries, truncated, errors = await ctx.to_thread(
        walk, root, p.depth, p.top, p.max_entries
    )
    held, _, _ = await ctx.to_thread(scan, 0)
    mountpoint = m.mountpoint if m else "/"
    deleted = sorted((f for f in held.values() if f.mountpoint == mountpoint), key=lambda f: -f.size)
    frsize = st.f_frsize or st.f_bsize
    return Hogs(
        mountpoint=mountpoint,
        fstype=m.fstype if m else "",
        fs_size=st.f_blocks * frsize,
        fs_used=(st.f_blocks - st.f_bfree) * frsize,
        fs_available=st.f_bavail * frsize,
        scanned_bytes=total,
        directories=dirs,
        files=files,
        deleted_open_bytes=sum(f.size for f in deleted),
        deleted_open=[Entry(path=f.path, bytes=f.size) for f in deleted[: p.top]],
        entries=entries,
        truncated=truncated,
        errors=errors,
    )
