"""Renamed actions and plugins: one old → new table (``renamed.toml`` beside this file).

Every reader of action names meets renamed actions here: the agent and the
center answer an old name with their unknown-action code and a hint naming
the new action (an old name is never an alias: it does not run), and the
center matches account scopes and action rules against old names too, so a
rule written for ``cmd.run`` keeps protecting ``exec.run``. The agent reads an
old plugin name in its config (``disabled_plugins``, ``plugin_config``) or its
persisted enable/disable list as the new name, with a warning.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType

__all__ = ["also_known_as", "former_names", "granted_as", "renamed_actions", "renamed_matching", "renamed_plugin", "renamed_to"]

_TABLE = Path(__file__).with_name("renamed.toml")


@cache
def _tables() -> dict[str, Mapping[str, str]]:
    with _TABLE.open("rb") as fh:
        doc = tomllib.load(fh)
    return {part: MappingProxyType({str(k): str(v) for k, v in doc[part].items()}) for part in ("actions", "plugins")}


def renamed_actions() -> Mapping[str, str]:
    """Every renamed action, ``{old name: new name}`` (read-only)."""
    return _tables()["actions"]


def renamed_plugin(name: str) -> str | None:
    """The new name of plugin ``name`` when it was renamed, else ``None``."""
    return _tables()["plugins"].get(name)


@cache
def _former() -> Mapping[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for old, new in renamed_actions().items():
        out.setdefault(new, []).append(old)
    return MappingProxyType({k: tuple(v) for k, v in out.items()})


def renamed_to(name: str) -> str | None:
    """The new name of action ``name`` when it was renamed, else ``None``."""
    return renamed_actions().get(name)


def former_names(name: str) -> tuple[str, ...]:
    """The old names of action ``name`` (empty when it was never renamed)."""
    return _former().get(name, ())


def also_known_as(name: str) -> tuple[str, ...]:
    """The other names of action ``name``: its old names, or its new name when
    ``name`` is itself an old one (an older agent may still declare it). A scope
    or rule that matches any of them matches ``name``."""
    new = renamed_to(name)
    return (*former_names(name), *((new,) if new else ()))


def granted_as(name: str) -> tuple[str, ...]:
    """The old name under which a scope written before the rename grants action ``name``:
    its one former name when the rename was one-for-one (``cmd.run`` -> ``exec.run``:
    the same action), else nothing. Where several old actions merged into ``name``
    (``sys.env`` and ``exec.env`` -> ``proc.environ``) the new action can do more than
    any of them, so an old grant does not widen into it: a grant only ever follows a
    rename that changed nothing but the name. Restrictions (action rules) follow every
    rename (:func:`also_known_as`). Both ways, like :func:`also_known_as`: for an old
    name (an older agent may still declare it) the new name, when the rename was
    one-for-one."""
    former = former_names(name)
    out = former if len(former) == 1 else ()
    new = renamed_to(name)
    if new is not None and former_names(new) == (name,):
        out += (new,)
    return out


def renamed_matching(pattern: str) -> dict[str, str]:
    """``{old: new}`` for every old name that ``pattern`` (an fnmatch pattern, or
    an exact name) matches, where ``pattern`` does not match the new name too:
    the renamed actions a scope or rule reaches only through an old name."""
    return {
        old: new
        for old, new in renamed_actions().items()
        if fnmatch.fnmatchcase(old, pattern) and not fnmatch.fnmatchcase(new, pattern)
    }
