"""Create an empty file or set its access and modification times (like ``touch``).

``file.touch`` updates a file's times to now or to the epoch seconds given,
creating the file (mode 0644, less the umask) when it is missing unless
``create`` is off, in which case a missing file is A017. Symlinks are
followed, as ``touch`` does. Returns the times the file ended up with.
Changes the file system.
"""

from __future__ import annotations

import os
import time

import msgspec

from agent_core import ActionContext, Plugin, Risk, abs_path, action
from plugins._fs import fs_errors

PLUGIN = Plugin("file.touch", domain="files")


class TouchParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str
    create: bool = True
    mtime: float | None = None
    atime: float | None = None


class TouchResult(msgspec.Struct):
    path: str
    created: bool
    atime: float
    mtime: float


def _touch(path: str, p: TouchParams) -> TouchResult:
    created = False
    with fs_errors(path):
        if p.create:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                created = True
        now = time.time()
        mtime = p.mtime if p.mtime is not None else now
        atime = p.atime if p.atime is not None else (p.mtime if p.mtime is not None else now)
        os.utime(path, ns=(int(atime * 1e9), int(mtime * 1e9)))
        s = os.stat(path)
    return TouchResult(path=path, created=created, atime=s.st_atime, mtime=s.st_mtime)


@action("file.touch", risk=Risk.CHANGE, timeout=30)
async def touch(ctx: ActionContext, p: TouchParams) -> TouchResult:
    """Set ``path``'s times (now or given), creating it if missing unless ``create`` is off."""
    return _touch(abs_path(p.path), p)
