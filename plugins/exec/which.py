"""Locate programs on PATH (like ``which -a``) and tell what they really are.

``exec.which`` resolves one or more program names the way the shell would,
against the agent's ``PATH`` or one you give: the first match, every match
in PATH order, the resolved real path behind symlinks (``/usr/bin/python3``
→ ``python3.11``), the size and whether it is a script (``#!`` and its
interpreter) or a binary. A name with a ``/`` is checked as a path. It only
reads.
"""

from __future__ import annotations

import os
import stat as st
from typing import Annotated

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, InvalidParams, Plugin, Risk, action

PLUGIN = Plugin("exec.which", domain="exec")


class WhichParams(msgspec.Struct, forbid_unknown_fields=True):
    names: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=255)]], msgspec.Meta(min_length=1, max_length=100)]
    path: str | None = None
    require: bool = False


class Program(msgspec.Struct, omit_defaults=True):
    name: str
    found: bool
    path: str = ""
    all: list[str] = []
    realpath: str = ""
    size: int = 0
    kind: str = ""
    interpreter: str = ""


class WhichResult(msgspec.Struct):
    search_path: list[str]
    programs: list[Program]


def _executable(path: str) -> bool:
    try:
        s = os.stat(path)
    except OSError:
        return False
    return st.S_ISREG(s.st_mode) and os.access(path, os.X_OK)


def _kind(path: str) -> tuple[str, str]:
    """``(kind, interpreter)``: ``binary`` (ELF), ``script`` (``#!``), ``other`` or ``unreadable``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except OSError:
        return "unreadable", ""  # execute-only: runnable, but we cannot look inside
    if head.startswith(b"#!"):
        return "script", head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    return ("binary" if head.startswith(b"\x7fELF") else "other"), ""


def _describe(name: str, hits: list[str]) -> Program:
    if not hits:
        return Program(name=name, found=False)
    real = os.path.realpath(hits[0])
    kind, interpreter = _kind(real)
    return Program(
        name=name,
        found=True,
        path=hits[0],
        all=hits,
        realpath=real,
        size=os.path.getsize(real),
        kind=kind,
        interpreter=interpreter,
    )


def _which(names: list[str], dirs: list[str]) -> WhichResult:
    programs = []
    for name in names:
        if "/" in name:
            hits = [name] if _executable(name) else []
        else:
            hits = []
            for d in dirs:
                candidate = os.path.join(d or ".", name)
                if _executable(candidate) and candidate not in hits:
                    hits.append(candidate)
        programs.append(_describe(name, hits))
    return WhichResult(search_path=dirs, programs=programs)


@action("exec.which", risk=Risk.READ, timeout=10)
async def which(ctx: ActionContext, p: WhichParams) -> WhichResult:
    """Where each program in ``names`` is found on PATH, and what it is."""
    if any("\x00" in n for n in p.names):
        raise InvalidParams("names: NUL byte in a name")
    search = p.path if p.path is not None else os.environ.get("PATH", os.defpath)
    result = _which(p.names, search.split(os.pathsep))
    missing = [x.name for x in result.programs if not x.found]
    if p.require and missing:
        raise ActionError(f"not found on PATH: {', '.join(missing)}", code=ErrorCode.A017, data=result)
    return result
