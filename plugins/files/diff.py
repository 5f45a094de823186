"""Compare two files and show a unified diff (like ``diff -u``).

``file.diff`` tells whether two files are identical and, for text, returns
a unified diff with ``context`` lines and the number of added and removed
lines. Binary files (a NUL byte in them) are compared by sha256 only. Files
above ``max_bytes`` are refused, and the diff text is capped at
``max_diff``. Optionally ignores whitespace changes. It only reads.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import stat as st
from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, abs_path, action
from plugins._fs import fs_errors

from ._common import is_binary

PLUGIN = Plugin("file.diff", domain="files")


class DiffParams(msgspec.Struct, forbid_unknown_fields=True):
    a: str
    b: str
    context: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 3
    ignore_whitespace: bool = False
    max_bytes: Annotated[int, msgspec.Meta(ge=1, le=256 * 1024 * 1024)] = 32 * 1024 * 1024
    max_diff: Annotated[int, msgspec.Meta(ge=1, le=16 * 1024 * 1024)] = 1024 * 1024


class DiffResult(msgspec.Struct):
    a: str
    b: str
    identical: bool
    binary: bool
    added: int
    removed: int
    diff: str
    truncated: bool


def _load(path: str, max_bytes: int) -> bytes:
    with fs_errors(path):
        s = os.stat(path)
        if not st.S_ISREG(s.st_mode):
            raise InvalidParams(f"{path} is not a regular file")
        if s.st_size > max_bytes:
            raise InvalidParams(f"{path} is {s.st_size} bytes, above max_bytes {max_bytes}")
        with open(path, "rb") as fh:
            return fh.read()


def _norm(line: str) -> str:
    return " ".join(line.split())


def _range(start: int, length: int) -> str:
    # Unified-diff ranges: 1-based start, and an empty range names the line before it.
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


def unified(la: list[str], lb: list[str], a: str, b: str, context: int, ignore_whitespace: bool) -> list[str]:
    """Unified diff lines of ``la`` → ``lb``; with ``ignore_whitespace`` lines are matched
    after collapsing blanks, but printed as they are (like ``diff -u -w``)."""
    ka = [_norm(x) for x in la] if ignore_whitespace else la
    kb = [_norm(x) for x in lb] if ignore_whitespace else lb
    out: list[str] = []
    for group in difflib.SequenceMatcher(None, ka, kb, autojunk=False).get_grouped_opcodes(context):
        if not out:
            out += [f"--- {a}\n", f"+++ {b}\n"]
        first, last = group[0], group[-1]
        out.append(f"@@ -{_range(first[1], last[2] - first[1])} +{_range(first[3], last[4] - first[3])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [" " + x for x in la[i1:i2]]
                continue
            out += ["-" + x for x in la[i1:i2]]
            out += ["+" + x for x in lb[j1:j2]]
    return [x if x.endswith("\n") else x + "\n\\ No newline at end of file\n" for x in out]


def _diff(p: DiffParams, a: str, b: str, cancel: object) -> DiffResult:
    da, db = _load(a, p.max_bytes), _load(b, p.max_bytes)
    if is_binary(da[:65536]) or is_binary(db[:65536]):
        same = hashlib.sha256(da).digest() == hashlib.sha256(db).digest()
        text = "" if same else f"Binary files {a} and {b} differ\n"
        return DiffResult(a, b, same, True, 0, 0, text, False)
    la = da.decode("utf-8", "replace").splitlines(keepends=True)
    lb = db.decode("utf-8", "replace").splitlines(keepends=True)
    lines = unified(la, lb, a, b, p.context, p.ignore_whitespace)
    added = sum(1 for x in lines if x.startswith("+") and not x.startswith("+++ "))
    removed = sum(1 for x in lines if x.startswith("-") and not x.startswith("--- "))
    text = "".join(lines)
    truncated = len(text) > p.max_diff
    return DiffResult(a, b, not lines, False, added, removed, text[: p.max_diff], truncated)


@action("file.diff", risk=Risk.READ, timeout=120)
async def diff(ctx: ActionContext, p: DiffParams) -> DiffResult:
    """Whether ``a`` and ``b`` differ, with a unified diff and added/removed line counts."""
    return await ctx.to_thread(_diff, p, abs_path(p.a, "a"), abs_path(p.b, "b"), cancellable=True)
