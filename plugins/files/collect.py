"""Send one file to the center as verified chunks, for ``starling cp`` from hosts.

``file.collect`` is the agent's half of collecting files: it reads the file
one chunk at a time (never all of it in memory), hands each chunk with its
SHA-256 to the proxy, which passes it to the center's chunk store, and returns
the file's manifest (size, mode, SHA-256, chunk hashes) as its result. The
caller then downloads the chunks from the center's API. A file larger than
``max_bytes`` is refused (C032); a file that changes while it is read is
reported (A021) instead of sending a torn copy; a directory is A022. It only
reads on the host.
"""

from __future__ import annotations

import hashlib
import os
import stat as st
from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    Plugin,
    Risk,
    Unavailable,
    abs_path,
    action,
)
from plugins._fs import fs_errors

from .transfer import MAX_CHUNK, FileEntry, sha256_hex

PLUGIN = Plugin("file.collect", domain="files")


class CollectParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    path: str
    #: Refuse files larger than this (C032).
    max_bytes: Annotated[int, msgspec.Meta(ge=0)] = 1 << 30
    #: 1 MiB: every agent collecting at once has one chunk in its proxy's memory.
    chunk_size: Annotated[int, msgspec.Meta(ge=1, le=MAX_CHUNK)] = 1024 * 1024


class CollectResult(msgspec.Struct, kw_only=True):
    path: str
    file: FileEntry
    mtime: float


def _stat(path: str) -> os.stat_result:
    with fs_errors(path):
        s = os.stat(path)
    if st.S_ISDIR(s.st_mode):
        raise ActionError(f"{path} is a directory; collect takes one file", code=ErrorCode.A022)
    if not st.S_ISREG(s.st_mode):
        raise ActionError(f"{path} is not a regular file", code=ErrorCode.A022)
    return s


@action("file.collect", risk=Risk.READ, timeout=3600)
async def collect(ctx: ActionContext, p: CollectParams) -> CollectResult:
    """Stream ``path`` to the center chunk by chunk; return its manifest."""
    import trio  # loaded by the agent anyway; kept out of the plugin's import
    path = abs_path(p.path)
    before = _stat(path)
    if before.st_size > p.max_bytes:
        raise ActionError(f"{path} is {before.st_size} bytes, above the cap of {p.max_bytes}", code=ErrorCode.C032)
    if ctx.chunks is None:
        raise Unavailable("file.collect needs the agent's file channel")
    whole = hashlib.sha256()
    chunks: list[str] = []
    size = 0
    with fs_errors(path):
        fh = await trio.to_thread.run_sync(open, path, "rb")
    with fh:
        # Read what was there at the start, no more: a file that keeps growing
        # (an active log) would otherwise never end; the check below reports it.
        while size < before.st_size:
            data = await trio.to_thread.run_sync(fh.read, min(p.chunk_size, before.st_size - size))
            if not data:
                break
            size += len(data)
            digest = await trio.to_thread.run_sync(sha256_hex, data)
            whole.update(data)
            await ctx.chunks.put(digest, data)
            chunks.append(digest)
    after = _stat(path)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or size != after.st_size:
        raise ActionError(f"{path} changed while it was read ({before.st_size} -> {after.st_size} bytes)", code=ErrorCode.A021)
    entry = FileEntry(path=os.path.basename(path), size=size, sha256=whole.hexdigest(), chunks=chunks, mode=f"{st.S_IMODE(before.st_mode):04o}")
    return CollectResult(path=path, file=entry, mtime=before.st_mtime)
