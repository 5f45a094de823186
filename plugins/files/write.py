"""Write a whole file atomically, with mode, owner and an optional backup.

``file.write`` replaces (or creates) one file with the given text or base64
bytes. The new content is written to a temporary file beside the target,
fsynced and renamed over it, so readers never see half a file. Mode and owner
are set before the rename (an existing file keeps its own unless told
otherwise); ``backup`` keeps a timestamped copy of the previous version.
Changes the file system.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import shutil
import stat as st
import time
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
    atomic_write,
    code,
)
from plugins._fs import fs_errors, gid_of, group_name, mode_str, parse_mode, uid_of, user_name

PLUGIN = Plugin("file.write", domain="files")

MAX_CONTENT = 8 * 1024 * 1024


class WriteParams(msgspec.Struct, forbid_unknown_fields=True):
    path: Annotated[str, code("path")]
    content: str | None = None
    content_b64: str | None = None
    mode: str | None = None
    owner: str | None = None
    group: str | None = None
    backup: bool = False
    create_dirs: bool = False


class WriteResult(msgspec.Struct):
    path: str
    size: int
    sha256: str
    created: bool
    mode: str
    owner: str
    group: str
    backup: str = ""


def content_bytes(p: WriteParams) -> bytes:
    """The bytes to write: exactly one of ``content`` and ``content_b64``."""
    if (p.content is None) == (p.content_b64 is None):
        raise InvalidParams("give exactly one of content and content_b64")
    if p.content is not None:
        data = p.content.encode()
    else:
        try:
            data = base64.b64decode(p.content_b64 or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidParams(f"content_b64: not valid base64 ({exc})") from exc
    if len(data) > MAX_CONTENT:
        raise InvalidParams(f"content is {len(data)} bytes; larger files go through file.push in chunks")
    return data


def _write(path: str, data: bytes, p: WriteParams, cancel: CancelToken) -> WriteResult:
    mode = parse_mode(p.mode) if p.mode is not None else None
    uid = uid_of(p.owner) if p.owner else -1
    gid = gid_of(p.group) if p.group else -1
    backup = ""
    with fs_errors(path):
        parent = os.path.dirname(path)
        if p.create_dirs:
            os.makedirs(parent, exist_ok=True)
        elif not os.path.isdir(parent):
            raise InvalidParams(f"directory {parent} does not exist (set create_dirs)")
        try:
            old = os.stat(path)
        except FileNotFoundError:
            old = None
        if old is not None and not st.S_ISREG(old.st_mode):
            raise InvalidParams(f"{path} exists and is not a regular file")
        if old is not None and p.backup:
            backup = f"{path}.{time.strftime('%Y%m%d%H%M%S')}.bak"
            shutil.copy2(path, backup)
        atomic_write(path, data, mode=mode, uid=uid, gid=gid)
        now = os.stat(path)
    return WriteResult(
        path=path,
        size=now.st_size,
        sha256=hashlib.sha256(data).hexdigest(),
        created=old is None,
        mode=mode_str(now.st_mode),
        owner=user_name(now.st_uid),
        group=group_name(now.st_gid),
        backup=backup,
    )


@action("file.write", risk=Risk.CHANGE, timeout=60)
async def write(ctx: ActionContext, p: WriteParams) -> WriteResult:
    """Atomically replace ``path`` with the given content; optionally back up the old file."""
    return await ctx.to_thread(_write, abs_path(p.path), content_bytes(p), p, cancellable=True)
