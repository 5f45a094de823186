"""Find files by name, type, size and age under a directory, within bounds.

``file.find`` walks a tree (in a worker thread, never following symlinks,
staying on one filesystem unless told otherwise, skipping /proc, /sys, /dev
and /run) and returns the entries that match every filter given: a shell glob
on the name, a type, a size range and a modification-age range. Results, depth
and the number of entries scanned are all capped, and the answer says when a
cap was hit, so a search from ``/`` cannot run away. It only reads.
"""

from __future__ import annotations

import fnmatch
import os
import time
from typing import Annotated, Literal

import msgspec

from agent_core import ActionContext, CancelToken, InvalidParams, Plugin, Risk, abs_path, action
from plugins._fs import WalkStats, dir_path, kind_of, mode_str, walk

PLUGIN = Plugin("file.find", domain="files")

Kind = Literal["any", "file", "dir", "link", "char", "block", "fifo", "socket"]


class FindParams(msgspec.Struct, forbid_unknown_fields=True):
    root: str
    name: str | None = None
    ignore_case: bool = False
    type: Kind = "any"
    min_size: Annotated[int, msgspec.Meta(ge=0)] | None = None
    max_size: Annotated[int, msgspec.Meta(ge=0)] | None = None
    newer_than: Annotated[float, msgspec.Meta(gt=0)] | None = None
    older_than: Annotated[float, msgspec.Meta(gt=0)] | None = None
    max_depth: Annotated[int, msgspec.Meta(ge=1, le=256)] = 32
    max_results: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1000
    max_scan: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 1_000_000
    xdev: bool = True


class Found(msgspec.Struct):
    path: str
    type: str
    size: int
    mode: str
    mtime: float


class FindResult(msgspec.Struct):
    root: str
    entries: list[Found]
    truncated: bool
    scanned: int
    scan_truncated: bool
    errors: int


def _search(root: str, p: FindParams, cancel: CancelToken) -> FindResult:
    stats = WalkStats()
    now = time.time()
    pattern = p.name.lower() if p.name and p.ignore_case else p.name
    found: list[Found] = []
    truncated = False
    for path, s, _depth in walk(root, stats, max_depth=p.max_depth, max_entries=p.max_scan, xdev=p.xdev, cancel=cancel):
        kind = kind_of(s.st_mode)
        if p.type != "any" and kind != p.type:
            continue
        if pattern is not None:
            base = os.path.basename(path)
            if not fnmatch.fnmatchcase(base.lower() if p.ignore_case else base, pattern):
                continue
        if p.min_size is not None and s.st_size < p.min_size:
            continue
        if p.max_size is not None and s.st_size > p.max_size:
            continue
        age = now - s.st_mtime
        if p.newer_than is not None and age > p.newer_than:
            continue
        if p.older_than is not None and age < p.older_than:
            continue
        if len(found) >= p.max_results:
            truncated = True
            break
        found.append(Found(path=path, type=kind, size=s.st_size, mode=mode_str(s.st_mode), mtime=s.st_mtime))
    return FindResult(
        root=root,
        entries=found,
        truncated=truncated,
        scanned=stats.scanned,
        scan_truncated=stats.truncated,
        errors=stats.errors,
    )


@action("file.find", risk=Risk.READ, timeout=300)
async def find(ctx: ActionContext, p: FindParams) -> FindResult:
    """Entries under ``root`` matching the name, type, size and age filters (bounded)."""
    root = abs_path(p.root, "root")
    if p.min_size is not None and p.max_size is not None and p.min_size > p.max_size:
        raise InvalidParams("min_size is larger than max_size")
    return await ctx.to_thread(_search, dir_path(root), p, cancellable=True)
