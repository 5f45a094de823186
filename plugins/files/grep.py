"""Search file contents for a regular expression across a file or a tree, bounded.

``file.grep`` looks for a pattern (a Python regular expression, or a fixed
string) in one file or in every regular file under a directory, optionally
only files whose name matches a glob. Binary files and files above a size cap
are skipped and counted; matches, files and scanned entries are capped and
the answer says so. Each match gives path, line number and the (shortened)
line. It runs in a worker thread and only reads.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat as st
from collections.abc import Iterator
from typing import Annotated

import msgspec

from agent_core import ActionContext, CancelToken, InvalidParams, Plugin, Risk, abs_path, action
from plugins._fs import WalkStats, fs_errors, walk

from ._common import is_binary

PLUGIN = Plugin("file.grep", domain="files")


class GrepParams(msgspec.Struct, forbid_unknown_fields=True):
    pattern: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    path: str
    fixed: bool = False
    ignore_case: bool = False
    include: str | None = None
    max_depth: Annotated[int, msgspec.Meta(ge=1, le=256)] = 32
    max_matches: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1000
    max_files: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 10_000
    max_file_size: Annotated[int, msgspec.Meta(ge=1)] = 16 * 1024 * 1024
    max_line: Annotated[int, msgspec.Meta(ge=16, le=65536)] = 1000


class Match(msgspec.Struct):
    path: str
    line: int
    text: str


class GrepResult(msgspec.Struct):
    matches: list[Match]
    files_scanned: int
    files_matched: int
    skipped_binary: int
    skipped_large: int
    truncated: bool


def _grep(root: str, regex: re.Pattern[str], p: GrepParams, cancel: CancelToken) -> GrepResult:
    res = GrepResult(matches=[], files_scanned=0, files_matched=0, skipped_binary=0, skipped_large=0, truncated=False)
    files: Iterator[str]
    if os.path.isdir(root):
        stats = WalkStats()
        files = (
            path
            for path, s, _ in walk(root, stats, max_depth=p.max_depth, cancel=cancel)
            if st.S_ISREG(s.st_mode)
        )
    else:
        files = iter([root])
    for path in files:
        if p.include and not fnmatch.fnmatch(os.path.basename(path), p.include):
            continue
        if res.files_scanned >= p.max_files:
            res.truncated = True
            break
        cancel.check()
        try:
            if os.path.getsize(path) > p.max_file_size:
                res.skipped_large += 1
                continue
            with open(path, "rb") as fh:
                res.files_scanned += 1
                if is_binary(fh.read(8192)):
                    res.skipped_binary += 1
                    continue
                fh.seek(0)
                hit = False
                for number, raw in enumerate(fh, 1):
                    text = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if regex.search(text):
                        hit = True
                        res.matches.append(Match(path=path, line=number, text=text[: p.max_line]))
                        if len(res.matches) >= p.max_matches:
                            res.truncated = True
                            res.files_matched += 1
                            return res
                res.files_matched += hit
        except OSError:
            continue  # unreadable or vanished; grep -s behaviour
    return res


@action("file.grep", risk=Risk.READ, timeout=300)
async def grep(ctx: ActionContext, p: GrepParams) -> GrepResult:
    """Lines matching ``pattern`` in ``path`` (a file, or every file below a directory)."""
    root = abs_path(p.path)
    source = re.escape(p.pattern) if p.fixed else p.pattern
    try:
        regex = re.compile(source, re.IGNORECASE if p.ignore_case else 0)
    except re.error as exc:
        raise InvalidParams(f"pattern: {exc}") from exc
    with fs_errors(root):
        os.stat(root)
    return await ctx.to_thread(_grep, root, regex, p, cancellable=True)
