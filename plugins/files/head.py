"""Show the first lines of a file (like ``head -n``).

``file.head`` returns the first ``lines`` lines of a text file as a list,
reading no more than ``max_bytes`` so a file without newlines cannot flood
the result. It says whether more lines follow and how big the file is. It
only reads.
"""

from __future__ import annotations

import os

import msgspec

from agent_core import ActionContext, CancelToken, Plugin, Risk, abs_path, action
from plugins._fs import fs_errors

from ._common import LinesParams, refuse_dir

PLUGIN = Plugin("file.head", domain="files")


class HeadParams(LinesParams):
    pass


class HeadResult(msgspec.Struct):
    path: str
    size: int
    lines: list[str]
    more: bool
    truncated: bool


def _head(path: str, count: int, max_bytes: int, cancel: CancelToken) -> HeadResult:
    out: list[str] = []
    used = 0
    truncated = more = False
    with fs_errors(path):
        refuse_dir(path)
        size = os.stat(path).st_size
        with open(path, "rb") as fh:
            while len(out) < count:
                # readline's limit keeps a newline-less giant from being read whole.
                raw = fh.readline(max_bytes - used + 1)
                if not raw:
                    break
                if used + len(raw) > max_bytes:
                    truncated = True
                    break
                used += len(raw)
                out.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
            else:
                more = bool(fh.read(1))
    return HeadResult(path=path, size=size, lines=out, more=more or truncated, truncated=truncated)


@action("file.head", risk=Risk.READ, timeout=30)
async def head(ctx: ActionContext, p: HeadParams) -> HeadResult:
    """The first ``lines`` lines of ``path`` (at most ``max_bytes`` read)."""
    return await ctx.to_thread(_head, abs_path(p.path), p.lines, p.max_bytes, cancellable=True)
