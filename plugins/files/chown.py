"""Change the owner and/or group of a path, optionally recursive.

``file.chown`` sets a user and/or group (names or numeric ids) on one path
or, with ``recursive``, on a whole tree on one filesystem, never following
symlinks (a link itself is re-owned with ``lchown``). It reports how many
entries changed, lists them (capped), and refuses to work recursively on
system directories. An unknown user or group is A017. Changes the file system.
"""

from __future__ import annotations

import os
from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    CancelToken,
    InvalidParams,
    Plugin,
    Risk,
    abs_path,
    action,
    code,
)
from plugins._fs import fs_errors, gid_of, group_name, uid_of, user_name

from ._common import each_in_tree, refuse_protected

PLUGIN = Plugin("file.chown", domain="files")


class ChownParams(msgspec.Struct, forbid_unknown_fields=True):
    path: Annotated[str, code("path")]
    owner: str | None = None
    group: str | None = None
    recursive: bool = False
    max_entries: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 1_000_000


class Owned(msgspec.Struct):
    path: str
    old: str
    new: str


class ChownResult(msgspec.Struct):
    path: str
    owner: str
    group: str
    scanned: int
    changed: int
    entries: list[Owned]
    truncated: bool


def _chown_tree(root: str, uid: int, gid: int, recursive: bool, max_entries: int, cancel: CancelToken) -> ChownResult:
    res = ChownResult(
        path=root,
        owner=user_name(uid) if uid >= 0 else "",
        group=group_name(gid) if gid >= 0 else "",
        scanned=0,
        changed=0,
        entries=[],
        truncated=False,
    )

    def one(path: str, s: os.stat_result) -> None:
        res.scanned += 1
        new_uid = s.st_uid if uid < 0 else uid
        new_gid = s.st_gid if gid < 0 else gid
        if (new_uid, new_gid) == (s.st_uid, s.st_gid):
            return
        os.lchown(path, new_uid, new_gid)
        res.changed += 1
        if len(res.entries) < 1000:
            old = f"{user_name(s.st_uid)}:{group_name(s.st_gid)}"
            res.entries.append(Owned(path=path, old=old, new=f"{user_name(new_uid)}:{group_name(new_gid)}"))
        else:
            res.truncated = True

    cut = each_in_tree(root, one, recursive=recursive, max_entries=max_entries, cancel=cancel)
    res.truncated = res.truncated or cut
    return res


@action("file.chown", risk=Risk.CHANGE, timeout=300)
async def chown(ctx: ActionContext, p: ChownParams) -> ChownResult:
    """Set ``owner`` and/or ``group`` on ``path`` (or its tree with ``recursive``)."""
    path = abs_path(p.path)
    if not p.owner and not p.group:
        raise InvalidParams("give owner, group or both")
    uid = uid_of(p.owner) if p.owner else -1
    gid = gid_of(p.group) if p.group else -1
    if p.recursive:
        refuse_protected(path, "chown recursively")
    with fs_errors(path):
        return await ctx.to_thread(_chown_tree, path, uid, gid, p.recursive, p.max_entries, cancellable=True)
