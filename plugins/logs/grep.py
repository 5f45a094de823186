"""Search a log and its rotated generations (even compressed) with context lines.

``log.grep`` searches one log file for a regular expression and, with
``rotated``, its older generations too (``app.log.1``, ``app.log.2.gz``,
``.bz2``, ``.xz``), oldest first, reading compressed ones on the fly. Each
match comes with up to ``before``/``after`` lines of context, as
``grep -B/-A`` gives. Matches are capped and the answer says when the cap was
hit. It runs in a worker thread and only reads.
"""

from __future__ import annotations

import collections
import lzma
import os
import re
import stat
from typing import Annotated

import msgspec

from agent_core import ActionContext, CancelToken, InvalidParams, Plugin, Risk, abs_path, action
from plugins._fs import fs_errors, os_error

from ._common import open_text, rotated_siblings

PLUGIN = Plugin("log.grep", domain="logs")


class LogGrepParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str
    pattern: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    ignore_case: bool = False
    invert: bool = False
    rotated: bool = False
    before: Annotated[int, msgspec.Meta(ge=0, le=50)] = 0
    after: Annotated[int, msgspec.Meta(ge=0, le=50)] = 0
    max_matches: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 500
    max_line: Annotated[int, msgspec.Meta(ge=16, le=65536)] = 2000


class Hit(msgspec.Struct):
    file: str
    line: int
    text: str
    before: list[str]
    after: list[str]


class LogGrepResult(msgspec.Struct):
    files: list[str]
    matches: list[Hit]
    truncated: bool


def _search_file(path: str, regex: re.Pattern[str], p: LogGrepParams, out: LogGrepResult, cancel: CancelToken) -> None:
    window: collections.deque[str] = collections.deque(maxlen=p.before)
    waiting: list[Hit] = []  # hits still collecting their "after" lines
    with open_text(path) as fh:
        for number, raw in enumerate(fh, 1):
            if number % 4096 == 0:
                cancel.check()
            line = raw.rstrip("\r\n")[: p.max_line]
            for hit in waiting:
                hit.after.append(line)
            waiting = [h for h in waiting if len(h.after) < p.after]
            if bool(regex.search(line)) != p.invert:
                if len(out.matches) >= p.max_matches:
                    out.truncated = True
                    return
                hit = Hit(file=path, line=number, text=line, before=list(window), after=[])
                out.matches.append(hit)
                if p.after:
                    waiting.append(hit)
            window.append(line)


def _grep(path: str, regex: re.Pattern[str], p: LogGrepParams, cancel: CancelToken) -> LogGrepResult:
    with fs_errors(path):
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise InvalidParams(f"{path} is not a regular file")
    files = [*rotated_siblings(path), path] if p.rotated else [path]
    out = LogGrepResult(files=files, matches=[], truncated=False)
    for f in files:
        try:
            _search_file(f, regex, p, out, cancel)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            # Real I/O errors carry an errno; corrupt .gz/.bz2/.xz data does not.
            if isinstance(exc, OSError) and exc.errno:
                raise os_error(exc, f) from exc
            raise InvalidParams(f"{f}: corrupt compressed data ({exc})") from exc
        if out.truncated:
            break
    return out


@action("log.grep", risk=Risk.READ, timeout=300)
async def grep(ctx: ActionContext, p: LogGrepParams) -> LogGrepResult:
    """Lines of a log (and its rotated generations) matching ``pattern``, with context."""
    path = abs_path(p.path)
    try:
        regex = re.compile(p.pattern, re.IGNORECASE if p.ignore_case else 0)
    except re.error as exc:
        raise InvalidParams(f"pattern: {exc}") from exc
    return await ctx.to_thread(_grep, path, regex, p, cancellable=True)
