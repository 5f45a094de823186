"""Read one chunk of a file for a chunked download, with total size and sha256.

``file.fetch`` is the sending end of a chunked download: each call returns
up to ``size`` bytes from ``offset`` as raw bytes, with the file's total size
and mtime (so the caller notices a file that changes mid-transfer) and the
chunk's own sha256. The whole file's sha256 comes with the chunk that
reaches the end of the file (or any chunk when ``checksum`` is set), so the
caller can verify what it assembled. It only reads.
"""

from __future__ import annotations

import hashlib
import os
import stat as st
from typing import Annotated

import msgspec

from agent_core import ActionContext, CancelToken, InvalidParams, Plugin, Risk, abs_path, action
from plugins._fs import fs_errors, hash_file

PLUGIN = Plugin("file.fetch", domain="files")

MAX_CHUNK = 8 * 1024 * 1024


class FetchParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str
    offset: Annotated[int, msgspec.Meta(ge=0)] = 0
    size: Annotated[int, msgspec.Meta(ge=1, le=MAX_CHUNK)] = 1024 * 1024
    checksum: bool = False


class FetchResult(msgspec.Struct):
    path: str
    offset: int
    length: int
    total_size: int
    mtime: float
    eof: bool
    chunk_sha256: str
    data: bytes
    sha256: str = ""


def _fetch(path: str, p: FetchParams, cancel: CancelToken) -> FetchResult:
    with fs_errors(path):
        s = os.stat(path)
        if not st.S_ISREG(s.st_mode):
            raise InvalidParams(f"{path} is not a regular file")
        if p.offset > s.st_size:
            raise InvalidParams(f"offset {p.offset} is past the end of {path} ({s.st_size} bytes)")
        with open(path, "rb") as fh:
            fh.seek(p.offset)
            data = fh.read(p.size)
        eof = p.offset + len(data) >= s.st_size
        whole = hash_file(path, "sha256", cancel) if eof or p.checksum else ""
    return FetchResult(
        path=path,
        offset=p.offset,
        length=len(data),
        total_size=s.st_size,
        mtime=s.st_mtime,
        eof=eof,
        chunk_sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        sha256=whole,
    )


@action("file.fetch", risk=Risk.READ, timeout=120)
async def fetch(ctx: ActionContext, p: FetchParams) -> FetchResult:
    """Up to ``size`` bytes of ``path`` from ``offset``, with total size and (at the end) sha256."""
    return await ctx.to_thread(_fetch, abs_path(p.path), p, cancellable=True)
