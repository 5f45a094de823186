"""Change permission bits of a path, octal or symbolic, optionally recursive.

``file.chmod`` sets a mode like ``0640`` or applies symbolic clauses like
``u+rwX,g-w,o=`` (the ``chmod`` syntax, ``X`` meaning execute for directories
and already-executable files) to one path or, with ``recursive``, to a whole
tree on one filesystem. Symlinks are never followed. It reports every entry it
changed with the old and new mode (the list is capped) and refuses to work
recursively on system directories. Changes the file system.
"""

from __future__ import annotations

import os
import re
import stat as st
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
    code,
)
from plugins._fs import fs_errors

from ._common import each_in_tree, refuse_protected

PLUGIN = Plugin("file.chmod", domain="files")

_CLAUSE = re.compile(r"^([ugoa]*)([-+=])([rwxXst]*)$")
_WHO = {"u": 0o4700, "g": 0o2070, "o": 0o1007}  # the bits each class may touch (incl. s/t)
_PERM = {"r": 0o444, "w": 0o222, "x": 0o111, "s": 0o6000, "t": 0o1000}


class ChmodParams(msgspec.Struct, forbid_unknown_fields=True):
    path: Annotated[str, code("path")]
    mode: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    recursive: bool = False
    max_entries: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 1_000_000


class Changed(msgspec.Struct):
    path: str
    old: str
    new: str


class ChmodResult(msgspec.Struct):
    path: str
    scanned: int
    changed: int
    entries: list[Changed]
    truncated: bool


def compile_mode(text: str) -> list[tuple[int, str, int, int]] | int:
    """Parse ``text``: an int for an octal mode, else clauses ``(who, op, bits, x_bits)``.

    ``x_bits`` are the execute bits ``X`` adds when the entry is a directory or
    already executable by someone.
    """
    if text.isdigit():
        raw = text.lstrip("0") or "0"
        if len(raw) > 4 or any(c not in "01234567" for c in raw):
            raise InvalidParams(f"mode: {text!r} is not an octal mode")
        return int(raw, 8)
    clauses = []
    for part in text.split(","):
        m = _CLAUSE.match(part.strip())
        if not m:
            raise InvalidParams(f"mode: {part!r} is not a clause like 'u+x' or 'go-w'")
        who_s, op, perms = m.groups()
        who = 0
        for w in who_s or "a":
            who |= 0o7777 if w == "a" else _WHO[w]
        settable = who
        if not who_s:
            # Like chmod(1): no class means "all, minus the umask", and "+s" alone
            # means setuid+setgid, not sticky.
            settable &= ~_umask()
            if "t" not in perms:
                settable &= ~0o1000
        bits = 0
        for c in perms.replace("X", ""):
            bits |= _PERM[c]
        x_bits = 0o111 & settable if "X" in perms else 0
        clauses.append((who, op, bits & settable, x_bits))
    return clauses


def apply_mode(spec: list[tuple[int, str, int, int]] | int, current: int, is_dir: bool) -> int:
    """The mode ``spec`` gives a file whose permission bits are ``current``."""
    if isinstance(spec, int):
        return spec
    mode = current
    for who, op, bits, x_bits in spec:
        if is_dir or current & 0o111:
            bits |= x_bits
        if op == "+":
            mode |= bits
        elif op == "-":
            mode &= ~bits
        else:
            # "=" clears what it does not name, but a directory keeps its setuid/setgid.
            mode = (mode & ~(who & (0o1777 if is_dir else 0o7777))) | bits
    return mode


def _umask() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _chmod_tree(root: str, spec: list[tuple[int, str, int, int]] | int, p: ChmodParams, cancel: CancelToken) -> ChmodResult:
    res = ChmodResult(path=root, scanned=0, changed=0, entries=[], truncated=False)

    def one(path: str, s: os.stat_result) -> None:
        res.scanned += 1
        if st.S_ISLNK(s.st_mode):
            return  # Linux cannot chmod a symlink itself; never follow it
        old = st.S_IMODE(s.st_mode)
        new = apply_mode(spec, old, st.S_ISDIR(s.st_mode))
        if new != old:
            os.chmod(path, new)
            res.changed += 1
            if len(res.entries) < 1000:
                res.entries.append(Changed(path=path, old=f"{old:04o}", new=f"{new:04o}"))
            else:
                res.truncated = True

    cut = each_in_tree(root, one, recursive=p.recursive, max_entries=p.max_entries, cancel=cancel)
    res.truncated = res.truncated or cut
    return res


@action("file.chmod", risk=Risk.CHANGE, timeout=300)
async def chmod(ctx: ActionContext, p: ChmodParams) -> ChmodResult:
    """Set ``mode`` (octal or symbolic) on ``path``, or on its whole tree with ``recursive``."""
    path = abs_path(p.path)
    spec = compile_mode(p.mode.strip())
    if p.recursive:
        refuse_protected(path, "chmod recursively")
    with fs_errors(path):
        os.lstat(path)
        return await ctx.to_thread(_chmod_tree, path, spec, p, cancellable=True)
