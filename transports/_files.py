"""Files that hold secrets: created 0600 in directories that are 0700.

Every role writes some secret to disk (configs with tokens, private keys, the
database, credential caches, the audit key). These helpers make such files with
their final mode from the first byte: the file is created with ``os.open(...,
0o600)`` under a temporary name and renamed into place, so no reader ever sees it
with a looser mode, and a crash never leaves it half written. Files found with
looser modes at start are tightened, with a warning (:func:`tighten_private`).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("starling.files")

#: Mode of a file that holds a secret.
PRIVATE_FILE = 0o600
#: Mode of a directory that holds secrets.
PRIVATE_DIR = 0o700


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Make ``path`` (and missing parents) as 0700 directories; tighten it if it exists.

    Parents that already exist are left alone (``/var/lib`` is not ours).
    """
    p = Path(path)
    missing = []
    for d in (p, *p.parents):
        if d.exists():
            break
        missing.append(d)
    for d in reversed(missing):
        # mkdir(parents=True) would make the parents with the umask's mode, not ours.
        d.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    tighten_private([p])
    return p


def write_private(path: str | os.PathLike[str], data: bytes | str, *, exclusive: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically as a 0600 file.

    The temporary file is created with mode 0600 (never chmod-ed after the
    write) in the same directory, flushed to disk, then renamed over ``path``.

    :param exclusive: never replace an existing ``path``: the file is linked into
        place, and :class:`FileExistsError` is raised if another process got there
        first (so two processes making a key at once end up sharing one).
    """
    p = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    tmp = p.with_name(f".{p.name}.{os.urandom(6).hex()}.tmp")  # what secrets.token_hex(6) does
    # O_EXCL: a fresh file of ours, so its mode is the one given here.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
    try:
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    if not exclusive:
        os.replace(tmp, p)
        return p
    try:
        os.link(tmp, p)
    finally:
        tmp.unlink()
    return p


def create_private(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` empty with mode 0600 unless it exists (e.g. a database file,
    so that SQLite, which copies the database's mode to its -wal and -shm files,
    never makes a world-readable one)."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
    except FileExistsError:
        return p
    os.close(fd)
    return p


def open_private_append(path: str | os.PathLike[str]) -> int:
    """Open ``path`` for appending (created 0600 if absent); returns the descriptor."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE)


def tighten_private(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Remove group and other permissions from each existing path, with a warning.

    Directories become 0700 at most and files 0600 at most (bits already off stay
    off). Missing paths are skipped; a path we cannot change is warned about.

    :returns: the paths that were changed.
    """
    changed: list[Path] = []
    for path in paths:
        p = Path(path)
        try:
            st = p.stat()
        except OSError:
            continue
        mode = stat.S_IMODE(st.st_mode)
        if not mode & 0o077:
            continue
        want = mode & (PRIVATE_DIR if stat.S_ISDIR(st.st_mode) else PRIVATE_FILE)
        try:
            os.chmod(p, want)
        except OSError as exc:
            log.warning("%s holds secrets and is mode %04o, readable by others; cannot tighten it: %s", p, mode, exc.strerror)
            continue
        log.warning("%s holds secrets and was mode %04o, readable by others; tightened to %04o", p, mode, want)
        changed.append(p)
    return changed
