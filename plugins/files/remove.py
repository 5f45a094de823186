"""Remove a file, a link or (with ``recursive``) a directory tree, refusing system paths.

``file.remove`` deletes one path. A directory needs ``recursive``; the tree
is removed bottom-up without following symlinks. It refuses ``/`` and the
system directories (``/etc``, ``/usr``, ``/var`` ...), mount points, and any
tree with a filesystem mounted inside it, so a mistyped path cannot wipe a
host or a mounted volume. It reports how many files and directories and how
many bytes it removed. Destroys data: risk ``danger``.
"""

from __future__ import annotations

import os
import stat as st

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    CancelToken,
    ErrorCode,
    InvalidParams,
    Plugin,
    Risk,
    abs_path,
    action,
)
from plugins._fs import fs_errors

from ._common import mount_points, refuse_protected

PLUGIN = Plugin("file.remove", domain="files")


class RemoveParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str
    recursive: bool = False
    missing_ok: bool = False


class RemoveResult(msgspec.Struct):
    path: str
    existed: bool
    files: int = 0
    dirs: int = 0
    bytes: int = 0


def _check_mounts(path: str) -> None:
    real = os.path.realpath(path)
    for point in mount_points():
        if point == real:
            raise ActionError(f"refusing to remove mount point {real}", code=ErrorCode.A016)
        if point.startswith(real.rstrip("/") + "/"):
            raise ActionError(f"refusing to remove {real}: {point} is mounted inside it", code=ErrorCode.A016)


def _remove(path: str, recursive: bool, missing_ok: bool, cancel: CancelToken) -> RemoveResult:
    res = RemoveResult(path=path, existed=True)
    try:
        s = os.lstat(path)
    except FileNotFoundError:
        if missing_ok:
            return RemoveResult(path=path, existed=False)
        raise
    if not st.S_ISDIR(s.st_mode):
        os.unlink(path)
        res.files, res.bytes = 1, s.st_size
        return res
    if not recursive:
        raise InvalidParams(f"{path} is a directory; set recursive to remove it")
    _check_mounts(path)
    for top, dirs, files in os.walk(path, topdown=False):
        cancel.check()
        # os.walk lists symlinks to directories among dirs: they are unlinked, never entered.
        links = [d for d in dirs if os.path.islink(os.path.join(top, d))]
        for name in files + links:
            full = os.path.join(top, name)
            res.bytes += os.lstat(full).st_size
            os.unlink(full)
            res.files += 1
        for name in dirs:
            if name not in links:
                os.rmdir(os.path.join(top, name))
                res.dirs += 1
    os.rmdir(path)
    res.dirs += 1
    return res


@action("file.remove", risk=Risk.DANGER, timeout=600)
async def remove(ctx: ActionContext, p: RemoveParams) -> RemoveResult:
    """Delete ``path`` (a tree only with ``recursive``); never a system directory or mount."""
    path = abs_path(p.path)
    refuse_protected(path, "remove")
    with fs_errors(path):
        return await ctx.to_thread(_remove, path, p.recursive, p.missing_ok, cancellable=True)
