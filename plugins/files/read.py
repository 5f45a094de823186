"""Read part of a file as text or base64, with offset and limit.

``file.read`` returns up to ``limit`` bytes of one file starting at ``offset``,
as UTF-8 text (undecodable bytes replaced) or, for binary content, as base64
that round-trips exactly. It reports the file's size, whether the read reached
the end, and whether the bytes look binary, so a caller can page through a
file of any size. It only reads; it refuses directories, FIFOs and sockets.
"""

from __future__ import annotations

import base64
import os
import stat as st
from typing import Annotated, Literal

import msgspec

from agent_core import ActionContext, CancelToken, InvalidParams, Plugin, Risk, abs_path, action
from plugins._fs import fs_errors, kind_of

from ._common import is_binary

PLUGIN = Plugin("file.read", domain="files")

MAX_LIMIT = 4 * 1024 * 1024


class ReadParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str
    offset: Annotated[int, msgspec.Meta(ge=0)] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)] = 64 * 1024
    encoding: Literal["text", "base64"] = "text"


class ReadResult(msgspec.Struct):
    path: str
    size: int
    offset: int
    length: int
    eof: bool
    encoding: str
    binary: bool
    data: str


def _read(path: str, offset: int, limit: int, cancel: CancelToken) -> tuple[os.stat_result, bytes]:
    with fs_errors(path):
        s = os.stat(path)
        if not (st.S_ISREG(s.st_mode) or st.S_ISCHR(s.st_mode)):
            raise InvalidParams(f"{path} is a {kind_of(s.st_mode)}, not a file")
        with open(path, "rb") as fh:
            fh.seek(offset)
            return s, fh.read(limit)


@action("file.read", risk=Risk.READ, timeout=30)
async def read(ctx: ActionContext, p: ReadParams) -> ReadResult:
    """Read ``limit`` bytes of ``path`` from ``offset`` as text or base64."""
    path = abs_path(p.path)
    # A worker thread: a slow disk, NFS or a device must not stall the agent's event loop.
    s, chunk = await ctx.to_thread(_read, path, p.offset, p.limit, cancellable=True)
    # /proc files report size 0; for them only a short read means the end.
    size = s.st_size
    eof = len(chunk) < p.limit or (size > 0 and p.offset + len(chunk) >= size)
    data = base64.b64encode(chunk).decode() if p.encoding == "base64" else chunk.decode("utf-8", "replace")
    return ReadResult(
        path=path,
        size=size,
        offset=p.offset,
        length=len(chunk),
        eof=eof,
        encoding=p.encoding,
        binary=is_binary(chunk),
        data=data,
    )
