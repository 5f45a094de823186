"""The ``paths`` scope: which paths an account's file actions may change.

An account whose scopes carry ``"paths": ["/opt/app/*", "/etc/app/*.conf"]``
may run the file actions that write (``file.install`` — what ``starling cp``
submits — ``file.push``, ``file.write`` and the other changing ``file.*``
actions) only on paths matching one of the globs (``fnmatch``: ``*`` also
matches ``/``, so ``/opt/app/*`` covers the whole tree below it). Paths are
normalised first, so ``/opt/app/../../etc/passwd`` is ``/etc/passwd``. No
``paths`` scope means no path restriction. Reading actions are not limited
by it (the host and action scopes still apply).
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Sequence
from typing import Any

from transports import ErrorCode, StarlingError

#: Changing file actions and the params that name what they change.
WRITES: dict[str, tuple[str, ...]] = {
    "file.install": ("dest",),
    "file.push": ("path",),
    "file.write": ("path",),
    "file.copy": ("dest",),
    "file.move": ("src", "dest"),
    "file.remove": ("path",),
    "file.mkdir": ("path",),
    "file.chmod": ("path",),
    "file.chown": ("path",),
    "file.symlink": ("path",),
    "file.touch": ("path",),
    "file.extract": ("dest",),
}


def check_paths(patterns: Sequence[str], key_id: str, action: str, params: dict[str, Any]) -> None:
    """C009 when ``action`` would change a path outside the ``patterns`` (the
    account's ``paths`` scope; empty: no restriction)."""
    fields = WRITES.get(action)
    if not patterns or fields is None:
        return
    for name in fields:
        value = params.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value.startswith("/"):
            raise StarlingError(f"{action}: {name} must be an absolute path", code=ErrorCode.C001)
        path = posixpath.normpath(value)
        if not any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(path + "/", p) for p in patterns):
            raise StarlingError(f"account {key_id} may not write {path} (paths scope: {', '.join(patterns)})", code=ErrorCode.C009)
