"""Action declarations as data: what an agent tells the center about its actions.

An agent reports a *catalogue*: for every action it can run, the params JSON
schema, the risk level, the declared timeout, whether it streams, and which
params carry code (a command line, a script, an interpreter, arguments,
standard input, environment, a package, a path that will be written). The
center's policy, its params validation, the API document and the console's
forms all read this one declaration (STYLE 19).

Code-carrying params are marked in the params type itself, with
:data:`CODE_KEY` in the field's JSON schema (``agent_core`` gives authors the
annotated types)::

    cmd: Annotated[str, msgspec.Meta(extra_json_schema={"x-starling-code": "command"})]

A catalogue is content-addressed: :func:`catalogue_digest` is the SHA-256 of
its canonical JSON, so ten thousand agents with the same plugins send the
center one digest each and the document once.
"""

from __future__ import annotations

import enum
import hashlib
from typing import Any

import msgspec

__all__ = [
    "CODE_KEY",
    "ActionDecl",
    "Catalogue",
    "CodeRole",
    "catalogue_digest",
    "code_fields",
]

#: The JSON-schema key that marks a code-carrying param.
CODE_KEY = "x-starling-code"


class CodeRole(enum.StrEnum):
    """How a param carries code (how the center must read it)."""

    #: The program that runs the other code params (``/bin/sh``, ``/usr/bin/python3 -u``).
    INTERPRETER = "interpreter"
    #: Text given to the interpreter after ``-c`` (a shell command line by default).
    COMMAND = "command"
    #: Text written to a file that the interpreter runs.
    SCRIPT = "script"
    #: Arguments after the command or script (positional parameters).
    ARGS = "args"
    #: Text fed to the program's standard input.
    STDIN = "stdin"
    #: Extra environment for the program.
    ENV = "env"
    #: A package (wheel) that will be installed: must be signed by a trusted publisher.
    PACKAGE = "package"
    #: A path that the action writes: writing to some paths is running code.
    PATH = "path"
    #: Code the center cannot analyse at all: needs approval.
    OPAQUE = "opaque"


class ActionDecl(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One action's declaration."""

    name: str
    plugin: str = ""
    risk: str = "read"
    timeout: float = 60.0
    streams: bool = False
    description: str = ""
    #: JSON schema of the params (``$defs`` inline).
    params: dict[str, Any] = {}


class Catalogue(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Everything an agent can run, as the center sees it."""

    version: int = 1
    actions: list[ActionDecl] = []

    def by_name(self) -> dict[str, ActionDecl]:
        return {a.name: a for a in self.actions}


def catalogue_digest(catalogue: Catalogue) -> str:
    """SHA-256 (hex) of the catalogue's canonical JSON (actions sorted by name)."""
    canonical = Catalogue(version=catalogue.version, actions=sorted(catalogue.actions, key=lambda a: a.name))
    return hashlib.sha256(msgspec.json.encode(canonical, order="sorted")).hexdigest()


def code_fields(decl: ActionDecl) -> dict[str, CodeRole]:
    """``{param name: role}`` for the top-level params marked as carrying code."""
    props = decl.params.get("properties")
    if not isinstance(props, dict):
        return {}
    out: dict[str, CodeRole] = {}
    for name, schema in props.items():
        if isinstance(schema, dict):
            role = _role_of(schema, decl.params.get("$defs", {}))
            if role is not None:
                out[name] = role
    return out


def _role_of(schema: dict[str, Any], defs: dict[str, Any]) -> CodeRole | None:
    """A field's role: on the field itself, or on any branch of an ``anyOf`` (``str | None``)."""
    raw = schema.get(CODE_KEY)
    if isinstance(raw, str):
        try:
            return CodeRole(raw)
        except ValueError:
            return CodeRole.OPAQUE  # a role this center does not know: treat as unreadable code
    for branch in schema.get("anyOf", []) or []:
        if isinstance(branch, dict):
            role = _role_of(branch, defs)
            if role is not None:
                return role
    return None
