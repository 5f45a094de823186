"""Copy a file (atomically) or a directory tree on the host.

``file.copy`` copies ``src`` to ``dest``; if ``dest`` is an existing
directory the copy goes inside it, as with ``cp``. A single file is written
to a temporary name beside its destination and renamed into place, so the
destination is never half-written, and its sha256 is returned. A directory
needs ``recursive`` (symlinks are copied as links). ``preserve`` keeps mode,
times and, when the agent runs as root, ownership. An existing destination
is only replaced with ``overwrite``. Changes the file system.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat as st
from typing import Annotated

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
    code,
    open_atomic,
)
from plugins._fs import fs_errors

PLUGIN = Plugin("file.copy", domain="files")


class CopyParams(msgspec.Struct, forbid_unknown_fields=True):
    src: str
    dest: Annotated[str, code("path")]
    recursive: bool = False
    overwrite: bool = False
    preserve: bool = True


class CopyResult(msgspec.Struct):
    src: str
    dest: str
    files: int
    bytes: int
    sha256: str = ""


def _keep_owner(src: str, dest: str) -> None:
    if os.geteuid() == 0:
        s = os.lstat(src)
        os.lchown(dest, s.st_uid, s.st_gid)


def _copy_file(src: str, dest: str, preserve: bool, cancel: CancelToken) -> str:
    """Copy one regular file via a temporary beside ``dest``; return its sha256."""
    h = hashlib.sha256()
    mode, uid, gid = 0o644, -1, -1
    if preserve:
        s = os.stat(src)
        mode = st.S_IMODE(s.st_mode)
        if os.geteuid() == 0:
            uid, gid = s.st_uid, s.st_gid
    with open(src, "rb") as fin, open_atomic(dest, mode=mode, uid=uid, gid=gid) as fout:
        while block := fin.read(1 << 20):
            cancel.check()
            h.update(block)
            fout.write(block)
        if preserve:
            fout.flush()
            shutil.copystat(src, fout.name)  # times (and flags); mode and owner follow
    return h.hexdigest()


def _copy(src: str, dest: str, p: CopyParams, cancel: CancelToken) -> CopyResult:
    s = os.stat(src)
    if os.path.isdir(dest):
        dest = os.path.join(dest, os.path.basename(src))
    if os.path.realpath(src) == os.path.realpath(dest):
        raise InvalidParams(f"src and dest are the same file: {src}")
    exists = os.path.lexists(dest)
    if st.S_ISREG(s.st_mode):
        if exists and not p.overwrite:
            raise ActionError(f"{dest} exists; set overwrite to replace it", code=ErrorCode.A014)
        if exists and os.path.isdir(dest):
            raise ActionError(f"{dest} is a directory", code=ErrorCode.A014)
        digest = _copy_file(src, dest, p.preserve, cancel)
        return CopyResult(src=src, dest=dest, files=1, bytes=s.st_size, sha256=digest)
    if not st.S_ISDIR(s.st_mode):
        raise InvalidParams(f"{src} is neither a regular file nor a directory")
    if not p.recursive:
        raise InvalidParams(f"{src} is a directory; set recursive to copy it")
    if os.path.realpath(dest).startswith(os.path.realpath(src).rstrip("/") + "/"):
        raise InvalidParams(f"cannot copy {src} into itself ({dest})")
    if exists and not p.overwrite:
        raise ActionError(f"{dest} exists; set overwrite to merge into it", code=ErrorCode.A014)
    res = CopyResult(src=src, dest=dest, files=0, bytes=0)

    def copy_one(a: str, b: str) -> str:
        cancel.check()
        if p.preserve:
            shutil.copy2(a, b)
            _keep_owner(a, b)
        else:
            shutil.copyfile(a, b)
        res.files += 1
        res.bytes += os.path.getsize(b)
        return b

    shutil.copytree(src, dest, symlinks=True, copy_function=copy_one, dirs_exist_ok=p.overwrite)
    return res


@action("file.copy", risk=Risk.CHANGE, timeout=600)
async def copy(ctx: ActionContext, p: CopyParams) -> CopyResult:
    """Copy ``src`` to ``dest`` (into it, if it is a directory); trees need ``recursive``."""
    src = abs_path(p.src, "src")
    dest = abs_path(p.dest, "dest")
    try:
        with fs_errors():
            return await ctx.to_thread(_copy, src, dest, p, cancellable=True)
    except shutil.Error as exc:
        # copytree collects per-file failures and raises them together at the end.
        errors = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
        raise ActionError(f"{len(errors)} entries failed to copy, first: {errors[:1]}", code=ErrorCode.A014) from exc
