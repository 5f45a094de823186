"""Create a directory (and its parents) with a mode and owner; idempotent.

``file.mkdir`` makes sure a directory exists. Missing parents are created
when ``parents`` is set; every directory it creates gets ``mode`` (exactly,
not filtered by the umask) and the optional owner and group, while
directories that already existed are left alone. It answers which
directories it created, so running it twice reports nothing the second time.
Changes the file system.
"""

from __future__ import annotations

import os
import stat as st

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    NotFound,
    Plugin,
    Risk,
    abs_path,
    action,
)
from plugins._fs import fs_errors, gid_of, parse_mode, uid_of

PLUGIN = Plugin("file.mkdir", domain="files")


class MkdirParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str
    mode: str = "0755"
    parents: bool = True
    owner: str | None = None
    group: str | None = None


class MkdirResult(msgspec.Struct):
    path: str
    changed: bool
    created: list[str]


def _mkdir(path: str, mode: int, parents: bool, uid: int, gid: int) -> MkdirResult:
    missing: list[str] = []
    cur = path
    with fs_errors(path):
        while True:
            try:
                s = os.stat(cur)
            except (FileNotFoundError, NotADirectoryError):
                # Climb until something exists; a file in the way is reported below.
                missing.append(cur)
                cur = os.path.dirname(cur)
                continue
            if not st.S_ISDIR(s.st_mode):
                raise ActionError(f"{cur} exists and is not a directory", code=ErrorCode.A014)
            break
        if len(missing) > 1 and not parents:
            raise NotFound(f"parent {missing[1]} does not exist (set parents)")
        created: list[str] = []
        for d in reversed(missing):
            try:
                os.mkdir(d)
            except FileExistsError:
                continue  # someone else made it meanwhile: fine, not ours to change
            os.chmod(d, mode)  # mkdir's mode is filtered by the umask; chmod is exact
            if uid >= 0 or gid >= 0:
                os.chown(d, uid, gid)
            created.append(d)
    return MkdirResult(path=path, changed=bool(created), created=created)


@action("file.mkdir", risk=Risk.CHANGE, timeout=30)
async def mkdir(ctx: ActionContext, p: MkdirParams) -> MkdirResult:
    """Ensure directory ``path`` exists; new directories get ``mode``/``owner``/``group``."""
    path = abs_path(p.path)
    mode = parse_mode(p.mode)
    uid = uid_of(p.owner) if p.owner else -1
    gid = gid_of(p.group) if p.group else -1
    return _mkdir(path, mode, p.parents, uid, gid)
