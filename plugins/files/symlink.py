"""Create or repoint a symbolic link, idempotently.

``file.symlink`` makes ``link`` a symlink to ``target``. If the link already
points there nothing changes (``changed: false``); a link pointing elsewhere
is replaced atomically only with ``force``; a regular file or directory in
the way is never replaced. The target need not exist (dangling links are
legal) but the answer says whether it does. Changes the file system.
"""

from __future__ import annotations

import os
import secrets
from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    Plugin,
    Risk,
    abs_path,
    action,
    code,
)
from plugins._fs import fs_errors

PLUGIN = Plugin("file.symlink", domain="files")


class SymlinkParams(msgspec.Struct, forbid_unknown_fields=True):
    target: str
    link: Annotated[str, code("path")]
    force: bool = False


class SymlinkResult(msgspec.Struct):
    link: str
    target: str
    changed: bool
    previous: str
    target_exists: bool


def _symlink(target: str, link: str, force: bool) -> SymlinkResult:
    previous = ""
    with fs_errors(link):
        if os.path.islink(link):
            previous = os.readlink(link)
            if previous == target:
                return SymlinkResult(link, target, False, previous, os.path.exists(link))
            if not force:
                raise ActionError(f"{link} points to {previous}; set force to repoint it", code=ErrorCode.A014)
        elif os.path.lexists(link):
            raise ActionError(f"{link} exists and is not a symlink; refusing to replace it", code=ErrorCode.A014)
        # A temporary link renamed over the old one: there is no moment without a link.
        tmp = os.path.join(os.path.dirname(link), f".{os.path.basename(link)}.{secrets.token_hex(4)}.starling")
        os.symlink(target, tmp)
        try:
            os.replace(tmp, link)
        except BaseException:
            os.unlink(tmp)
            raise
        return SymlinkResult(link, target, True, previous, os.path.exists(link))


@action("file.symlink", risk=Risk.CHANGE, timeout=30)
async def symlink(ctx: ActionContext, p: SymlinkParams) -> SymlinkResult:
    """Make ``link`` point to ``target``; repoint an existing link only with ``force``."""
    link = abs_path(p.link, "link")
    if not p.target or "\x00" in p.target:
        raise InvalidParams("target: must be a non-empty path")
    return _symlink(p.target, link, p.force)
