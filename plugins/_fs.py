"""File-system helpers that several plugin folders share: ``OSError`` mapped to the
catalogue's codes, modes and owners, bounded tree walks, hashing and reading a file's
last lines (atomic writes, worker threads and ``abs_path`` are the SDK's).

Not a plugin (no entry point). Private to :mod:`plugins`: the ``file.*``, ``log.*``,
``sec.*`` and ``state.*`` plugins import it; what only the file plugins need stays in
``files/_common.py``.
"""

from __future__ import annotations

import errno
import grp
import hashlib
import os
import pwd
import stat as st
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from agent_core import ActionError, CancelToken, ErrorCode, InvalidParams, NotFound, abs_path

#: Pseudo filesystems a walk never descends into unless it starts inside them.
PSEUDO = ("/proc", "/sys", "/dev", "/run")

HASHES = ("sha256", "sha1", "md5", "sha512", "blake2b")

_TYPES = [
    (st.S_ISREG, "file"),
    (st.S_ISDIR, "dir"),
    (st.S_ISLNK, "link"),
    (st.S_ISCHR, "char"),
    (st.S_ISBLK, "block"),
    (st.S_ISFIFO, "fifo"),
    (st.S_ISSOCK, "socket"),
]


def os_error(exc: OSError, path: str = "") -> ActionError:
    """Translate an ``OSError`` into the catalogue code an operator can act on."""
    where = exc.filename or path
    text = f"{where}: {exc.strerror or exc}" if where else str(exc)
    code = {
        errno.ENOENT: ErrorCode.A017,
        errno.EACCES: ErrorCode.A016,
        errno.EPERM: ErrorCode.A016,
        errno.EROFS: ErrorCode.A016,
        errno.ENOSPC: ErrorCode.E002,
        errno.EDQUOT: ErrorCode.E002,
        errno.EISDIR: ErrorCode.A002,
        errno.ENOTDIR: ErrorCode.A002,
        errno.ELOOP: ErrorCode.A002,
        errno.ENAMETOOLONG: ErrorCode.A002,
        errno.EEXIST: ErrorCode.A014,
        errno.ENOTEMPTY: ErrorCode.A014,
        errno.EXDEV: ErrorCode.A014,
        errno.EBUSY: ErrorCode.A014,
    }.get(exc.errno or 0, ErrorCode.A014)
    return ActionError(text, code=code)


@contextmanager
def fs_errors(path: str = "") -> Iterator[None]:
    """Turn any ``OSError`` raised inside the block into an :class:`ActionError`."""
    try:
        yield
    except OSError as exc:
        raise os_error(exc, path) from exc


def dir_path(path: str, field: str = "root") -> str:
    """:func:`abs_path`, and the path must name an existing directory.

    :raises ActionError: A002 when it is relative or not a directory, the
        :func:`os_error` code when it cannot be looked at.
    """
    path = abs_path(path, field)
    with fs_errors(path):
        if not st.S_ISDIR(os.stat(path).st_mode):
            raise InvalidParams(f"{field}: {path} is not a directory")
    return path


def kind_of(mode: int) -> str:
    """``file``, ``dir``, ``link``, ... for an ``st_mode``."""
    return next((name for test, name in _TYPES if test(mode)), "other")


def mode_str(mode: int) -> str:
    """Permission bits as four octal digits (``0644``)."""
    return f"{st.S_IMODE(mode):04o}"


def parse_mode(text: str, field: str = "mode") -> int:
    """An octal mode string (``"644"``, ``"0o755"``, ``"2775"``) as an int."""
    raw = text.strip().lower().removeprefix("0o")
    if not raw or len(raw) > 4 or any(c not in "01234567" for c in raw):
        raise InvalidParams(f"{field}: {text!r} is not an octal mode like '0644'")
    return int(raw, 8)


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def uid_of(owner: str) -> int:
    """A user name or numeric id as a uid; an unknown name is A017."""
    if owner.isdigit():
        return int(owner)
    try:
        return pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise NotFound(f"no user named {owner!r}") from None


def gid_of(group: str) -> int:
    """A group name or numeric id as a gid; an unknown name is A017."""
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise NotFound(f"no group named {group!r}") from None


def new_hash(algorithm: str) -> Any:
    if algorithm not in HASHES:
        raise InvalidParams(f"algorithm: {algorithm!r} is not one of {', '.join(HASHES)}")
    return hashlib.new(algorithm)


def hash_file(path: str, algorithm: str = "sha256", cancel: CancelToken | None = None) -> str:
    """Hex digest of a file's content, read in 1 MiB blocks."""
    h = new_hash(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            if cancel is not None:
                cancel.check()
            h.update(block)
    return h.hexdigest()


def read_last_lines(path: str, count: int, max_bytes: int) -> tuple[list[str], int, bool]:
    """The last ``count`` lines of a file, read backwards in blocks.

    Returns ``(lines, end_offset, truncated)``; ``truncated`` means ``max_bytes``
    stopped the read before ``count`` lines were found. A huge file costs only
    the blocks that hold the lines.
    """
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        pos = end
        buf = b""
        block = 64 * 1024
        # A trailing newline ends the last line; it does not start an empty one.
        want = count + 1
        while pos > 0 and buf.count(b"\n") < want and end - pos < max_bytes:
            step = min(block, pos, max_bytes - (end - pos))
            pos -= step
            fh.seek(pos)
            buf = fh.read(step) + buf
    truncated = pos > 0 and buf.count(b"\n") < want
    lines = buf.decode("utf-8", "replace").splitlines()
    if pos > 0 and len(lines) > 1:
        lines = lines[1:]  # the first piece is the tail of an earlier line
    return lines[-count:] if count else [], end, truncated


@dataclass
class WalkStats:
    """What a bounded walk saw: entries scanned, unreadable dirs, and whether it stopped early."""

    scanned: int = 0
    errors: int = 0
    truncated: bool = False


def walk(
    root: str,
    stats: WalkStats,
    *,
    max_depth: int = 64,
    max_entries: int = 1_000_000,
    xdev: bool = True,
    cancel: CancelToken | None = None,
) -> Iterator[tuple[str, os.stat_result, int]]:
    """Yield ``(path, lstat, depth)`` for everything under ``root`` (not ``root`` itself).

    Depth-first, sorted by name, never follows symlinks, stays on ``root``'s
    filesystem when ``xdev``, skips ``/proc``, ``/sys``, ``/dev`` and ``/run``
    unless ``root`` is inside them, and stops after ``max_entries`` entries
    (``stats.truncated``). Unreadable directories are counted in ``stats.errors``.
    """
    root_dev = os.lstat(root).st_dev
    inside_pseudo = any(root == p or root.startswith(p + "/") for p in PSEUDO)
    stack: list[tuple[str, int]] = [(root, 1)]
    while stack:
        directory, depth = stack.pop()
        if cancel is not None:
            cancel.check()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            stats.errors += 1
            continue
        subdirs: list[tuple[str, int]] = []
        for entry in entries:
            if stats.scanned >= max_entries:
                stats.truncated = True
                return
            try:
                s = entry.stat(follow_symlinks=False)
            except OSError:
                stats.errors += 1
                continue
            stats.scanned += 1
            yield entry.path, s, depth
            if st.S_ISDIR(s.st_mode) and depth < max_depth:
                if xdev and s.st_dev != root_dev:
                    continue
                if not inside_pseudo and entry.path in PSEUDO:
                    continue
                subdirs.append((entry.path, depth + 1))
        stack.extend(reversed(subdirs))
