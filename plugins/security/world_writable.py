"""Find world-writable files and directories without the sticky bit, bounded.

``sec.world_writable`` walks a tree (``/`` by default; one filesystem, no
symlinks followed, pseudo filesystems skipped, bounded) for regular files any
user may modify — a script or config anyone can rewrite is a privilege
escalation waiting to happen — and for world-writable directories without the
sticky bit, where any user may delete or replace others' files. Sticky
world-writable directories (``/tmp``-like) are counted, not listed. It only
reads.
"""

from __future__ import annotations

import stat as st
from typing import Annotated

import msgspec

from agent_core import ActionContext, CancelToken, Plugin, Risk, action
from plugins._fs import WalkStats, dir_path, mode_str, user_name, walk

PLUGIN = Plugin("sec.world_writable", domain="security")


class WorldWritableParams(msgspec.Struct, forbid_unknown_fields=True):
    root: str = "/"
    xdev: bool = True
    max_entries: Annotated[int, msgspec.Meta(ge=1, le=50_000_000)] = 5_000_000
    max_results: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 5000


class Writable(msgspec.Struct):
    path: str
    type: str
    mode: str
    owner: str


class WorldWritableReport(msgspec.Struct):
    root: str
    files: list[Writable]
    dirs_without_sticky: list[Writable]
    sticky_dirs: int
    scanned: int
    errors: int
    truncated: bool


def _scan(root: str, p: WorldWritableParams, cancel: CancelToken) -> WorldWritableReport:
    stats = WalkStats()
    rep = WorldWritableReport(root=root, files=[], dirs_without_sticky=[], sticky_dirs=0, scanned=0, errors=0, truncated=False)
    for path, s, _ in walk(root, stats, max_depth=256, max_entries=p.max_entries, xdev=p.xdev, cancel=cancel):
        if not s.st_mode & st.S_IWOTH or st.S_ISLNK(s.st_mode):
            continue  # symlinks are always 0777 and mean nothing
        if len(rep.files) + len(rep.dirs_without_sticky) >= p.max_results:
            rep.truncated = True
            break
        item = Writable(path=path, type="", mode=mode_str(s.st_mode), owner=user_name(s.st_uid))
        if st.S_ISDIR(s.st_mode):
            if s.st_mode & st.S_ISVTX:
                rep.sticky_dirs += 1
            else:
                item.type = "dir"
                rep.dirs_without_sticky.append(item)
        elif st.S_ISREG(s.st_mode):
            item.type = "file"
            rep.files.append(item)
    rep.scanned, rep.errors = stats.scanned, stats.errors
    rep.truncated = rep.truncated or stats.truncated
    return rep


@action("sec.world_writable", risk=Risk.READ, timeout=900)
async def world_writable(ctx: ActionContext, p: WorldWritableParams) -> WorldWritableReport:
    """World-writable files and non-sticky world-writable directories under ``root``."""
    return await ctx.to_thread(_scan, dir_path(p.root), p, cancellable=True)
