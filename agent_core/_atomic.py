"""Atomic file replacement: readers see the old file or the new one, never half of it."""

from __future__ import annotations

import os
import stat as st
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

__all__ = ["atomic_write", "fsync_dir", "open_atomic"]


def fsync_dir(directory: str) -> None:
    """Make a rename in ``directory`` durable (best effort)."""
    try:
        dfd = os.open(directory or "/", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


@contextmanager
def open_atomic(
    path: str,
    *,
    mode: int | None = None,
    uid: int = -1,
    gid: int = -1,
    suffix: str = ".starling",
) -> Iterator[BinaryIO]:
    """Write ``path`` through a temporary file beside it, renamed over it on success.

    Yields the temporary file open for binary writing (``fh.name`` is its
    path, for ``shutil.copystat`` and the like). When the block ends
    normally the file is flushed and fsynced, gets its mode and owner, is
    renamed over ``path`` and the directory is fsynced. When the block raises
    (a checksum mismatch, a cancelled copy) the temporary is removed and
    ``path`` is untouched. An existing file keeps its mode and owner unless new
    ones are given; a new file gets ``0644``.
    """
    directory = os.path.dirname(path) or "/"
    try:
        old: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        old = None
    import tempfile  # here, not at the top: an idle agent writes no file this way

    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix, dir=directory)
    os.close(fd)
    try:
        with open(tmp, "wb") as fh:  # by name, so fh.name is the temporary's path
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode if mode is not None else (st.S_IMODE(old.st_mode) if old else 0o644))
        want_uid = uid if uid >= 0 else (old.st_uid if old else -1)
        want_gid = gid if gid >= 0 else (old.st_gid if old else -1)
        if want_uid >= 0 or want_gid >= 0:
            os.chown(tmp, want_uid, want_gid)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(directory)


def atomic_write(path: str, data: bytes | str, *, mode: int | None = None, uid: int = -1, gid: int = -1) -> None:
    """Replace ``path`` with ``data`` atomically (see :func:`open_atomic`); text is UTF-8."""
    with open_atomic(path, mode=mode, uid=uid, gid=gid) as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
