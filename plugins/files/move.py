"""Move or rename a file or directory, across filesystems if needed.

``file.move`` renames ``src`` to ``dest`` (into ``dest`` if that is an
existing directory). Within one filesystem this is a single atomic
``rename``; across filesystems the data is copied and the source removed,
and the answer says so. An existing destination is only replaced with
``overwrite``, and system directories and mount points are never moved.
Changes the file system.
"""

from __future__ import annotations

import errno
import os
import shutil
from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    Plugin,
    Risk,
    abs_path,
    action,
    code,
)
from plugins._fs import fs_errors

from ._common import mount_points, refuse_protected

PLUGIN = Plugin("file.move", domain="files")


class MoveParams(msgspec.Struct, forbid_unknown_fields=True):
    src: Annotated[str, code("path")]
    dest: Annotated[str, code("path")]
    overwrite: bool = False


class MoveResult(msgspec.Struct):
    src: str
    dest: str
    cross_device: bool
    replaced: bool


def _move(src: str, dest: str, overwrite: bool, cancel: object) -> MoveResult:
    os.lstat(src)
    if os.path.realpath(src) in mount_points():
        raise ActionError(f"refusing to move mount point {src}", code=ErrorCode.A016)
    if os.path.isdir(dest) and not os.path.islink(dest):
        dest = os.path.join(dest, os.path.basename(src))
    if os.path.realpath(dest).startswith(os.path.realpath(src).rstrip("/") + "/"):
        raise InvalidParams(f"cannot move {src} into itself ({dest})")
    replaced = os.path.lexists(dest)
    if replaced and not overwrite:
        raise ActionError(f"{dest} exists; set overwrite to replace it", code=ErrorCode.A014)
    try:
        os.rename(src, dest)
        return MoveResult(src=src, dest=dest, cross_device=False, replaced=replaced)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    # Another filesystem: copy then delete (shutil.move keeps links and metadata).
    if replaced and os.path.isdir(dest) and not os.path.islink(dest):
        raise ActionError(f"{dest} is a directory on another filesystem; remove it first", code=ErrorCode.A014)
    shutil.move(src, dest)
    return MoveResult(src=src, dest=dest, cross_device=True, replaced=replaced)


@action("file.move", risk=Risk.CHANGE, timeout=600)
async def move(ctx: ActionContext, p: MoveParams) -> MoveResult:
    """Rename ``src`` to ``dest`` (into it, if a directory); copies across filesystems."""
    src = abs_path(p.src, "src")
    dest = abs_path(p.dest, "dest")
    refuse_protected(src, "move")
    with fs_errors():
        return await ctx.to_thread(_move, src, dest, p.overwrite, cancellable=True)
