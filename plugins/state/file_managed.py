"""Declare a file's content, mode and owner; change it only when it differs (with a diff).

``state.file.managed`` makes a text file hold exactly ``content`` with the given
mode, owner and group. It compares first and returns ``changed``, a unified
diff of the content plus any mode/owner change, and a comment; with
``dry_run`` it only reports. Writes are atomic (temporary file + rename),
missing parent directories are created with ``makedirs``, and ``backup``
keeps the previous version beside the file. Running it twice changes nothing
the second time. Changes the file system (unless ``dry_run``).
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, NotFound, Plugin, Risk, abs_path, action, code
from plugins._fs import fs_errors, gid_of, parse_mode, uid_of

from ._common import StateResult, ensure_text, read_text

PLUGIN = Plugin("state.file.managed", domain="state")

MAX_CONTENT = 8 * 1024 * 1024


class ManagedParams(msgspec.Struct, forbid_unknown_fields=True):
    path: Annotated[str, code("path")]
    content: str
    mode: str | None = None
    owner: str | None = None
    group: str | None = None
    makedirs: bool = False
    backup: bool = False
    dry_run: bool = False


def _managed(path: str, p: ManagedParams) -> StateResult:
    if len(p.content.encode()) > MAX_CONTENT:
        raise InvalidParams(f"content above {MAX_CONTENT} bytes; ship big files with file.push")
    mode = parse_mode(p.mode) if p.mode else None
    uid = uid_of(p.owner) if p.owner else -1
    gid = gid_of(p.group) if p.group else -1
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        if not p.makedirs:
            raise NotFound(f"directory {parent} does not exist (set makedirs)")
        if not p.dry_run:
            with fs_errors(parent):
                os.makedirs(parent, exist_ok=True)
    old = read_text(path)
    backup = ""
    if p.backup and old is not None and old != p.content and not p.dry_run:
        backup = f"{path}.{time.strftime('%Y%m%d%H%M%S')}.bak"
        with fs_errors(path):
            shutil.copy2(path, backup)
    result = ensure_text(path, old, p.content, dry_run=p.dry_run, mode=mode, uid=uid, gid=gid)
    if backup:
        result.comment += f"; previous version kept as {backup}"
    return result


@action("state.file.managed", risk=Risk.CHANGE, timeout=60)
async def managed(ctx: ActionContext, p: ManagedParams) -> StateResult:
    """Ensure ``path`` has ``content``, ``mode``, ``owner`` and ``group``; report a diff."""
    return _managed(abs_path(p.path), p)
