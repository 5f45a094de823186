"""Receive a file in chunks and install it atomically once its sha256 matches.

``file.push`` is the receiving end of a chunked upload: each call carries an
``upload_id``, the destination ``path``, the ``offset`` of this chunk and its
bytes. Chunks are appended to a staging file in the agent's private data
directory (re-sending a chunk at an earlier offset is allowed, a gap is
refused with the expected offset). The call with ``final`` gives the whole
file's sha256: on a match the file gets its mode and owner and is renamed
over ``path`` in one step; on a mismatch the staged data is dropped and the
call fails with A015. Stale uploads are cleaned after a day. Changes the file
system.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    abs_path,
    action,
    fsync_dir,
    open_atomic,
)
from plugins._fs import fs_errors, gid_of, parse_mode, uid_of

PLUGIN = Plugin("file.push", domain="files")

MAX_CHUNK = 8 * 1024 * 1024
STALE_AFTER = 24 * 3600


class PushParams(msgspec.Struct, forbid_unknown_fields=True):
    upload_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    path: str
    offset: Annotated[int, msgspec.Meta(ge=0)]
    data: Annotated[bytes, msgspec.Meta(max_length=MAX_CHUNK)] = b""
    final: bool = False
    sha256: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-fA-F]{64}$")] | None = None
    mode: str | None = None
    owner: str | None = None
    group: str | None = None
    overwrite: bool = True


class PushResult(msgspec.Struct):
    upload_id: str
    path: str
    received: int
    complete: bool
    sha256: str = ""


def _sweep(staging: Path) -> None:
    """Drop uploads nobody finished within a day."""
    cutoff = time.time() - STALE_AFTER
    for f in staging.iterdir():
        try:
            if f.stat().st_mtime < cutoff:
                f.unlink()
        except OSError:
            pass


def _drop(part: Path, meta: Path) -> None:
    for f in (part, meta):
        try:
            f.unlink()
        except FileNotFoundError:
            pass


def _install(part: Path, path: str, p: PushParams) -> None:
    """Move the verified staging file to ``path`` atomically, with mode and owner."""
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise NotFound(f"directory {parent} does not exist")
    if os.path.lexists(path) and not p.overwrite:
        raise ActionError(f"{path} exists; set overwrite to replace it", code=ErrorCode.A014)
    mode = parse_mode(p.mode) if p.mode else 0o644
    uid = uid_of(p.owner) if p.owner else -1
    gid = gid_of(p.group) if p.group else -1
    if os.stat(part).st_dev == os.stat(parent).st_dev:
        os.chmod(part, mode)
        if uid >= 0 or gid >= 0:
            os.chown(part, uid, gid)
        os.replace(part, path)
        fsync_dir(parent)
        return
    # Another filesystem: copy beside the target first, so the final step is still a rename.
    with open(part, "rb") as fin, open_atomic(path, mode=mode, uid=uid, gid=gid) as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
    part.unlink()


def _push(staging: Path, path: str, p: PushParams) -> PushResult:
    staging.chmod(0o700)  # staged bytes may be secret until they get their final mode
    _sweep(staging)
    part = staging / f"{p.upload_id}.part"
    meta = staging / f"{p.upload_id}.json"
    try:
        recorded = json.loads(meta.read_text())["path"]
    except (FileNotFoundError, ValueError, KeyError):
        recorded = None
    if recorded is not None and recorded != path:
        raise InvalidParams(f"upload_id {p.upload_id!r} is in use for {recorded}")
    if recorded is None:
        if p.offset != 0:
            raise ActionError(f"unknown upload {p.upload_id!r}: start at offset 0", code=ErrorCode.A002, data={"expected_offset": 0})
        meta.write_text(json.dumps({"path": path, "started": time.time()}))
        part.write_bytes(b"")
    with fs_errors(str(part)):
        fd = os.open(part, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        if p.offset > size:
            raise ActionError(
                f"offset {p.offset} leaves a gap: {size} bytes received so far",
                code=ErrorCode.A002,
                data={"expected_offset": size},
            )
        if p.offset < size:
            os.ftruncate(fd, p.offset)  # a re-sent chunk replaces what followed it
        os.pwrite(fd, p.data, p.offset)
        received = p.offset + len(p.data)
        if not p.final:
            return PushResult(upload_id=p.upload_id, path=path, received=received, complete=False)
        os.fsync(fd)
        h = hashlib.sha256()
        os.lseek(fd, 0, os.SEEK_SET)
        while block := os.read(fd, 1 << 20):
            h.update(block)
    finally:
        os.close(fd)
    digest = h.hexdigest()
    if digest != (p.sha256 or "").lower():
        _drop(part, meta)
        raise ActionError(
            f"{path}: sha256 of the {received} bytes received is {digest}, expected {p.sha256}; upload dropped",
            code=ErrorCode.A015,
            data={"expected": p.sha256, "actual": digest, "received": received},
        )
    with fs_errors(path):
        _install(part, path, p)
    _drop(part, meta)
    return PushResult(upload_id=p.upload_id, path=path, received=received, complete=True, sha256=digest)


@action("file.push", risk=Risk.CHANGE, timeout=120)
async def push(ctx: ActionContext, p: PushParams) -> PushResult:
    """Store one chunk of an upload; with ``final``, verify sha256 and install the file atomically."""
    path = abs_path(p.path)
    if p.final and p.sha256 is None:
        raise InvalidParams("sha256: required with final")
    if p.mode:
        parse_mode(p.mode)
    with fs_errors():
        staging = ctx.data_dir("file.push")
        return _push(staging, path, p)
