"""Paths in params: an agent has no useful working directory, so every path is absolute."""

from __future__ import annotations

import os

from ._sdk import InvalidParams


def abs_path(path: str, field: str = "path") -> str:
    """``path`` checked absolute and cleaned (``//``, ``.``, ``..``, trailing ``/``).

    :raises InvalidParams: A002 when it is relative, empty or contains NUL.
    """
    if not path or "\x00" in path:
        raise InvalidParams(f"{field}: must be a non-empty path without NUL bytes")
    if not path.startswith("/"):
        raise InvalidParams(f"{field}: {path!r} is not an absolute path")
    return os.path.normpath(path)
