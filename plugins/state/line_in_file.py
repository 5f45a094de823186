"""Ensure one line is present in (or absent from) a text file, matched by a regular expression.

``state.line.in_file`` is the ``lineinfile`` of Starling: with ``present`` it
replaces the last line matching ``regexp`` by ``line`` (or, with no match,
inserts ``line`` after the last ``insert_after`` match, before the first
``insert_before`` match, or at the end); with ``present: false`` it removes
every line matching ``regexp`` (or equal to ``line``). Everything else in the
file stays byte for byte. It returns ``changed``, a unified diff and a
comment; ``dry_run`` only reports; a second run changes nothing. Changes
the file (unless ``dry_run``).
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, NotFound, Plugin, Risk, abs_path, action, code
from plugins._fs import parse_mode

from ._common import StateResult, ensure_text, read_text

PLUGIN = Plugin("state.line.in_file", domain="state")


class LineParams(msgspec.Struct, forbid_unknown_fields=True):
    path: Annotated[str, code("path")]
    line: str | None = None
    regexp: str | None = None
    present: bool = True
    insert_after: str | None = None
    insert_before: str | None = None
    create: bool = False
    mode: str | None = None
    dry_run: bool = False


def _compile(pattern: str | None, field: str) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidParams(f"{field}: {exc}") from exc


def edit(text: str, p: LineParams) -> str:
    """``text`` with the line ensured present or absent (pure function, no I/O).

    Untouched lines keep their exact bytes, line endings (``\\r\\n``) included.
    """
    items = [(x.rstrip("\r\n"), x[len(x.rstrip("\r\n")) :]) for x in text.splitlines(keepends=True)]
    eol = next((e for _, e in items if e), "\n")
    rx = _compile(p.regexp, "regexp")

    def matches(s: str) -> bool:
        return bool(rx.search(s)) if rx is not None else s == p.line

    if not p.present:
        items = [it for it in items if not matches(it[0])]
    elif p.line is not None:
        hits = [i for i, (s, _) in enumerate(items) if matches(s)]
        if hits:
            items[hits[-1]] = (p.line, items[hits[-1]][1])
        elif all(s != p.line for s, _ in items):
            where = len(items)
            after = _compile(p.insert_after, "insert_after")
            before = _compile(p.insert_before, "insert_before")
            if after is not None:
                found = [i for i, (s, _) in enumerate(items) if after.search(s)]
                where = found[-1] + 1 if found else where
            elif before is not None:
                found = [i for i, (s, _) in enumerate(items) if before.search(s)]
                where = found[0] if found else where
            if where == len(items) and items and not items[-1][1]:
                items[-1] = (items[-1][0], eol)  # the old last line had no newline: give it one
            items.insert(where, (p.line, eol))
    return "".join(s + e for s, e in items)


@action("state.line.in_file", risk=Risk.CHANGE, timeout=30)
async def in_file(ctx: ActionContext, p: LineParams) -> StateResult:
    """Ensure ``line`` is in ``path`` (replacing ``regexp`` matches), or that matches are gone."""
    path = abs_path(p.path)
    if p.present and p.line is None:
        raise InvalidParams("line: required when present is true")
    if p.line is not None and ("\n" in p.line or "\r" in p.line):
        raise InvalidParams("line: must be a single line")
    if not p.present and p.line is None and p.regexp is None:
        raise InvalidParams("give line or regexp to remove")
    if p.insert_after is not None and p.insert_before is not None:
        raise InvalidParams("give insert_after or insert_before, not both")
    old = read_text(path)
    if old is None:
        if not p.present:
            return StateResult(name=path, changed=False, dry_run=p.dry_run, diff="", comment=f"{path} does not exist; nothing to remove")
        if not p.create:
            raise NotFound(f"{path} does not exist (set create)")
    new = edit(old or "", p)
    mode = parse_mode(p.mode) if p.mode else None
    result = ensure_text(path, old, new, dry_run=p.dry_run, mode=mode if old is None else None, what=f"line in {path}")
    return result
