"""What only the file plugins share: protected directories, the lines params of
``file.head`` / ``file.tail``, mount points, recursive changes and binary sniffing.

Not a plugin (no entry point). The helpers other folders use too (error mapping, modes
and owners, tree walks, hashing, last lines) are in ``plugins/_fs.py``.
"""

from __future__ import annotations

import os
import re
import stat as st
from collections.abc import Callable
from typing import Annotated

import msgspec

from agent_core import ActionError, CancelToken, ErrorCode, InvalidParams
from plugins._fs import WalkStats, walk

#: Directories that no file action may remove, or change recursively, as a whole.
PROTECTED = frozenset(
    {
        "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32",
        "/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp",
        "/usr", "/usr/bin", "/usr/lib", "/usr/lib64", "/usr/local", "/usr/sbin", "/usr/share",
        "/var", "/var/lib", "/var/log", "/var/spool", "/var/tmp", "/var/cache",
    }
)

_OCTAL = re.compile(r"\\([0-7]{3})")


def refuse_dir(path: str) -> None:
    """A002 when ``path`` is a directory (for actions that read a file's lines)."""
    if os.path.isdir(path):
        raise InvalidParams(f"{path} is a directory")


class LinesParams(msgspec.Struct, forbid_unknown_fields=True):
    # The parameters of file.head and file.tail; each subclasses it under its own name.
    path: str
    lines: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 10
    max_bytes: Annotated[int, msgspec.Meta(ge=1, le=16 * 1024 * 1024)] = 1024 * 1024


def refuse_protected(path: str, what: str) -> None:
    """Refuse to ``what`` a system directory (checked on the resolved path too).

    :raises ActionError: A016 naming the directory.
    """
    for candidate in {os.path.normpath(path), os.path.realpath(path)}:
        if candidate in PROTECTED:
            raise ActionError(f"refusing to {what} system directory {candidate}", code=ErrorCode.A016)


def mount_points() -> list[str]:
    """Every mount point of this mount namespace, from ``/proc/self/mountinfo``."""
    points = []
    try:
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                # mountinfo escapes blank, tab, newline and backslash as octal (\040).
                points.append(_OCTAL.sub(lambda m: chr(int(m.group(1), 8)), line.split()[4]))
    except OSError:
        pass
    return points


def each_in_tree(
    root: str,
    one: Callable[[str, os.stat_result], None],
    *,
    recursive: bool,
    max_entries: int,
    cancel: CancelToken | None = None,
) -> bool:
    """Call ``one(path, lstat)`` on ``root`` and, with ``recursive`` on a directory (never
    through a symlink), on everything :func:`walk` yields below it (256 levels deep at most).

    :returns: True when the walk stopped at ``max_entries``.
    """
    first = os.lstat(root)
    one(root, first)
    if not (recursive and st.S_ISDIR(first.st_mode)):
        return False
    stats = WalkStats()
    for path, s, _ in walk(root, stats, max_depth=256, max_entries=max_entries, cancel=cancel):
        one(path, s)
    return stats.truncated


def is_binary(sample: bytes) -> bool:
    """A NUL byte in the first block is how grep and diff tell binary from text."""
    return b"\x00" in sample
