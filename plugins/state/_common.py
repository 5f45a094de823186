"""Shared pieces of the declarative state plugins: the result shape, diffs, file edits.

Not a plugin. Every ``*.present`` / ``*.managed`` / ``*.running`` action
compares the host with the desired state, returns ``changed``, a text
``diff`` and a ``comment``, and with ``dry_run`` stops before touching
anything — so running it twice changes nothing the second time, and running
it with ``dry_run`` shows exactly what a real run would do.
"""

from __future__ import annotations

import difflib
import errno
import os
import stat as st

import msgspec

from agent_core import InvalidParams, atomic_write, fsync_dir
from plugins._fs import fs_errors, group_name, mode_str, os_error, user_name


class StateResult(msgspec.Struct):
    """What a state action did (or, with ``dry_run``, would do)."""

    name: str
    changed: bool
    dry_run: bool
    diff: str
    comment: str


def text_diff(old: str, new: str, path: str) -> str:
    """A unified diff of ``old`` → ``new`` labelled with ``path``."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=path,
        tofile=f"{path} (desired)",
    )
    return "".join(x if x.endswith("\n") else x + "\n\\ No newline at end of file\n" for x in lines)


def read_text(path: str) -> str | None:
    """A text file's content, or None when it does not exist."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
            return fh.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise InvalidParams(f"{path} is a directory") from None
    except OSError as exc:
        raise os_error(exc, path) from exc


def write_text(path: str, text: str, *, mode: int | None = None, uid: int = -1, gid: int = -1) -> None:
    """Replace ``path`` atomically; fall back to rewriting in place for a bind-mounted
    file (a container's ``/etc/hosts``), which cannot be renamed over."""
    data = text.encode("utf-8", "surrogateescape")
    with fs_errors(path):
        try:
            atomic_write(path, data, mode=mode, uid=uid, gid=gid)
        except OSError as exc:
            if exc.errno not in (errno.EBUSY, errno.EXDEV):
                raise
            with open(path, "r+b") as fh:
                fh.write(data)
                fh.truncate()
                fh.flush()
                os.fsync(fh.fileno())
            fsync_dir(os.path.dirname(path))


def meta_changes(path: str, mode: int | None, uid: int, gid: int) -> list[str]:
    """Lines like ``mode: 0644 -> 0600`` for the metadata of an existing file that differs."""
    try:
        s = os.stat(path)
    except FileNotFoundError:
        return []
    out = []
    if mode is not None and st.S_IMODE(s.st_mode) != mode:
        out.append(f"mode: {mode_str(s.st_mode)} -> {mode:04o}")
    if uid >= 0 and s.st_uid != uid:
        out.append(f"owner: {user_name(s.st_uid)} -> {user_name(uid)}")
    if gid >= 0 and s.st_gid != gid:
        out.append(f"group: {group_name(s.st_gid)} -> {group_name(gid)}")
    return out


def ensure_text(path: str, old: str | None, new: str, *, dry_run: bool, mode: int | None = None,
                uid: int = -1, gid: int = -1, what: str = "") -> StateResult:
    """Make ``path`` hold ``new`` (``old`` is what it holds now, None if missing).

    Content and metadata are compared; nothing is written when both match, or
    with ``dry_run``. ``what`` names the change for the comment.
    """
    content_changed = old != new
    meta = meta_changes(path, mode, uid, gid) if old is not None else []
    diff = text_diff(old or "", new, path) if content_changed else ""
    if old is None:
        diff = f"new file {path}\n" + diff
    if meta:
        diff += "".join(x + "\n" for x in meta)
    changed = content_changed or bool(meta)
    if not changed:
        return StateResult(name=path, changed=False, dry_run=dry_run, diff="", comment=f"{what or path} already in the desired state")
    if dry_run:
        return StateResult(name=path, changed=True, dry_run=True, diff=diff, comment=f"would update {what or path}")
    if content_changed:
        write_text(path, new, mode=mode if mode is not None else (None if old is not None else 0o644), uid=uid, gid=gid)
    else:
        with fs_errors(path):
            if mode is not None:
                os.chmod(path, mode)
            if uid >= 0 or gid >= 0:
                os.chown(path, uid, gid)
    return StateResult(name=path, changed=True, dry_run=False, diff=diff, comment=f"updated {what or path}")
