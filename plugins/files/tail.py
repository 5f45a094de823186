"""Show the last lines of a file (like ``tail -n``), reading backwards.

``file.tail`` returns the last ``lines`` lines of a file without reading the
whole file: it reads blocks from the end until it has enough lines or has
read ``max_bytes``. It also returns the end offset, so a caller can later ask
``file.read`` for what was appended since. It only reads.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, CancelToken, Plugin, Risk, abs_path, action
from plugins._fs import fs_errors, read_last_lines

from ._common import LinesParams, refuse_dir

PLUGIN = Plugin("file.tail", domain="files")


class TailParams(LinesParams):
    pass


class TailResult(msgspec.Struct):
    path: str
    end_offset: int
    lines: list[str]
    truncated: bool


def _tail(path: str, count: int, max_bytes: int, cancel: CancelToken) -> TailResult:
    with fs_errors(path):
        refuse_dir(path)
        lines, end, truncated = read_last_lines(path, count, max_bytes)
    return TailResult(path=path, end_offset=end, lines=lines, truncated=truncated)


@action("file.tail", risk=Risk.READ, timeout=30)
async def tail(ctx: ActionContext, p: TailParams) -> TailResult:
    """The last ``lines`` lines of ``path`` and the offset where the file ends."""
    return await ctx.to_thread(_tail, abs_path(p.path), p.lines, p.max_bytes, cancellable=True)
