"""Paths in params: an agent has no useful working directory, so every path is absolute."""

from __future__ import annotations

import os

from ._sdk import InvalidParams, NotFound


def abs_path(path: str, field: str = "path") -> str:
    """``path`` checked absolute and cleaned (``//``, ``.``, ``..``, trailing ``/``).

    :raises InvalidParams: A002 when it is relative, empty or contains NUL.
    """
    if not path or "\x00" in path:
        raise InvalidParams(f"{field}: must be a non-empty path without NUL bytes")
    if not path.startswith("/"):
        raise InvalidParams(f"{field}: {path!r} is not an absolute path")
    return os.path.normpath(path)


def root_dir(root: str | None, field: str = "root") -> str | None:
    """Another root directory to inspect instead of ``/`` (an image, a chroot), or ``None``.

    :raises InvalidParams: A002 when it is not absolute.
    :raises NotFound: A017 when it is not a directory.
    """
    if root is None:
        return None
    if not os.path.isabs(root):
        raise InvalidParams(f"{field}: {root!r} is not an absolute path")
    if not os.path.isdir(root):
        raise NotFound(f"{field}: {root} is not a directory")
    return os.path.normpath(root)
