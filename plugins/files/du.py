"""Disk usage of a directory tree and its biggest parts (like ``du``).

``file.du`` walks a tree once (in a worker thread, one filesystem, symlinks
not followed, hard links counted once) and returns the total disk usage —
allocated blocks, or apparent sizes with ``apparent`` — plus file and
directory counts and the ``top`` largest entries down to ``depth`` levels,
each with its cumulative size. The scan is capped by ``max_entries`` and says
when it stopped early. It only reads.
"""

from __future__ import annotations

import os
import stat as st
from typing import Annotated

import msgspec

from agent_core import ActionContext, CancelToken, Plugin, Risk, abs_path, action
from plugins._fs import WalkStats, fs_errors, walk

PLUGIN = Plugin("file.du", domain="files")


class DuParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str
    depth: Annotated[int, msgspec.Meta(ge=0, le=16)] = 1
    top: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 20
    apparent: bool = False
    xdev: bool = True
    max_entries: Annotated[int, msgspec.Meta(ge=1, le=50_000_000)] = 5_000_000


class Usage(msgspec.Struct):
    path: str
    bytes: int


class DuResult(msgspec.Struct):
    path: str
    bytes: int
    files: int
    dirs: int
    largest: list[Usage]
    scanned: int
    errors: int
    truncated: bool


def _size(s: os.stat_result, apparent: bool) -> int:
    return s.st_size if apparent else s.st_blocks * 512


def _du(root: str, p: DuParams, cancel: CancelToken) -> DuResult:
    top = os.lstat(root)
    total = _size(top, p.apparent)
    files = 0
    dirs = 1 if st.S_ISDIR(top.st_mode) else 0
    parts: dict[str, int] = {}
    seen: set[tuple[int, int]] = set()
    stats = WalkStats()
    if st.S_ISDIR(top.st_mode):
        prefix = len(root.rstrip("/")) + 1
        for path, s, depth in walk(root, stats, max_depth=256, max_entries=p.max_entries, xdev=p.xdev, cancel=cancel):
            if s.st_nlink > 1 and not st.S_ISDIR(s.st_mode):
                key = (s.st_dev, s.st_ino)
                if key in seen:
                    continue
                seen.add(key)
            size = _size(s, p.apparent)
            total += size
            if st.S_ISDIR(s.st_mode):
                dirs += 1
            else:
                files += 1
            # Charge the entry to each ancestor down to the asked depth (itself included).
            rel = path[prefix:].split("/")
            for level in range(1, min(depth, p.depth) + 1):
                key_path = root.rstrip("/") + "/" + "/".join(rel[:level])
                parts[key_path] = parts.get(key_path, 0) + size
    else:
        files = 1
    largest = sorted((Usage(k, v) for k, v in parts.items()), key=lambda u: (-u.bytes, u.path))[: p.top]
    return DuResult(
        path=root,
        bytes=total,
        files=files,
        dirs=dirs,
        largest=largest,
        scanned=stats.scanned,
        errors=stats.errors,
        truncated=stats.truncated,
    )


@action("file.du", risk=Risk.READ, timeout=600)
async def du(ctx: ActionContext, p: DuParams) -> DuResult:
    """Total usage of ``path`` and its ``top`` largest entries down to ``depth`` levels."""
    path = abs_path(p.path)
    with fs_errors(path):
        return await ctx.to_thread(_du, path, p, cancellable=True)
