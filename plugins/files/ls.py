"""List a directory: names, types, sizes, modes, owners and times.

``file.ls`` lists one directory (not recursively) like ``ls -la``: every
entry with its type, size, permission bits, owner, group, modification time
and symlink target, sorted by name, size or time, hidden entries optional and
the count capped. It only reads.
"""

from __future__ import annotations

import os
import stat as st
from typing import Annotated, Literal

import msgspec

from agent_core import ActionContext, CancelToken, InvalidParams, Plugin, Risk, abs_path, action
from plugins._fs import fs_errors, group_name, kind_of, mode_str, user_name

PLUGIN = Plugin("file.ls", domain="files")


class LsParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str
    all: bool = False
    sort: Literal["name", "size", "mtime"] = "name"
    reverse: bool = False
    limit: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 5000


class Entry(msgspec.Struct, omit_defaults=True):
    name: str
    type: str
    size: int
    mode: str
    owner: str
    group: str
    mtime: float
    nlink: int = 1
    target: str = ""


class LsResult(msgspec.Struct):
    path: str
    total: int
    entries: list[Entry]
    truncated: bool


def _ls(path: str, p: LsParams, cancel: CancelToken) -> LsResult:
    entries: list[Entry] = []
    with fs_errors(path):
        if not st.S_ISDIR(os.stat(path).st_mode):
            raise InvalidParams(f"{path} is not a directory (use file.stat for one file)")
        with os.scandir(path) as it:
            for e in it:
                if not p.all and e.name.startswith("."):
                    continue
                try:
                    s = e.stat(follow_symlinks=False)
                    target = os.readlink(e.path) if e.is_symlink() else ""
                except OSError:
                    continue  # vanished between listing and stat
                entries.append(
                    Entry(
                        name=e.name,
                        type=kind_of(s.st_mode),
                        size=s.st_size,
                        mode=mode_str(s.st_mode),
                        owner=user_name(s.st_uid),
                        group=group_name(s.st_gid),
                        mtime=s.st_mtime,
                        nlink=s.st_nlink,
                        target=target,
                    )
                )
    key = {"name": lambda e: e.name, "size": lambda e: e.size, "mtime": lambda e: e.mtime}[p.sort]
    # Size and time read best largest/newest first, as ``ls -S`` and ``ls -t`` do.
    entries.sort(key=key, reverse=p.reverse != (p.sort != "name"))
    return LsResult(path=path, total=len(entries), entries=entries[: p.limit], truncated=len(entries) > p.limit)


@action("file.ls", risk=Risk.READ, timeout=60)
async def ls(ctx: ActionContext, p: LsParams) -> LsResult:
    """One directory's entries with type, size, mode, owner, group, mtime and link target."""
    return await ctx.to_thread(_ls, abs_path(p.path), p, cancellable=True)
