"""Inspect files on the host.

``file.stat`` reports whether a path exists and, if so, its type, size, mode,
owner, group, timestamps and link target, without following the last link.
"""

from __future__ import annotations

import os

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from plugins._fs import group_name, kind_of, mode_str, user_name

PLUGIN = Plugin("file", domain="files")


class StatParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str
    follow: bool = False


class FileStat(msgspec.Struct, omit_defaults=True):
    path: str
    exists: bool
    type: str = ""
    size: int = 0
    mode: str = ""
    uid: int = 0
    gid: int = 0
    owner: str = ""
    group: str = ""
    mtime: float = 0.0
    atime: float = 0.0
    ctime: float = 0.0
    target: str = ""


@action("file.stat", risk=Risk.READ, timeout=10)
async def stat(ctx: ActionContext, p: StatParams) -> FileStat:
    """Type, size, mode, owner, timestamps and link target of one path."""
    try:
        s = os.stat(p.path) if p.follow else os.lstat(p.path)
    except FileNotFoundError:
        return FileStat(path=p.path, exists=False)
    kind = kind_of(s.st_mode)
    return FileStat(
        path=p.path,
        exists=True,
        type=kind,
        size=s.st_size,
        mode=mode_str(s.st_mode),
        uid=s.st_uid,
        gid=s.st_gid,
        owner=user_name(s.st_uid),
        group=group_name(s.st_gid),
        mtime=s.st_mtime,
        atime=s.st_atime,
        ctime=s.st_ctime,
        target=os.readlink(p.path) if kind == "link" else "",
    )
