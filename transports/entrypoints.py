"""Entry points, readable in a child process so the idle agent never imports ``importlib.metadata``.

``importlib.metadata`` pulls ``email``, ``zipfile``, ``csv`` and ``importlib.resources``
(31 modules, ~1.5 MB of the agent's private memory) to answer three start-up questions:
which plugins, residents and carriers are installed. The child that declares the
agent's catalogue (agent_core/_declare.py) runs at every start; it also reads these
entry-point groups and prints them, and the agent installs them here with
:func:`install`. The plugin host, the resident supervisor and the carriers ask
:func:`entries`, which answers from the installed index, or from ``importlib.metadata``
in this process when there is none (tests, tools, a failed child, after a plugin was
installed until the agent declares again). This module imports nothing heavy, so the
child starts fast.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: The groups the agent reads at start-up.
GROUPS = ("starling.plugins", "starling.residents", "starling.transports")


@dataclass(frozen=True)
class EntryRef:
    """One entry point as plain data, loadable like ``importlib.metadata.EntryPoint``."""

    name: str
    value: str
    group: str
    dist: str = ""
    dist_version: str = ""

    def load(self) -> Any:
        module, _, attr = self.value.partition(":")
        obj: Any = importlib.import_module(module.strip())
        attr = attr.split("[", 1)[0].strip()  # "module:attr [extra]": extras do not change what loads
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
        return obj


_installed: dict[str, list[EntryRef]] = {}


def scan(groups: Iterable[str] = GROUPS) -> dict[str, list[EntryRef]]:
    """Read the groups with ``importlib.metadata`` (in the declaring child, or as a fallback)."""
    from importlib.metadata import entry_points

    out: dict[str, list[EntryRef]] = {}
    for group in groups:
        refs = []
        for ep in entry_points(group=group):
            dist = ep.dist
            refs.append(EntryRef(ep.name, ep.value, group, dist.name if dist else "", dist.version if dist else ""))
        out[group] = sorted(refs, key=lambda r: (r.name, r.value))
    return out


def install(index: dict[str, list[EntryRef]]) -> None:
    """Answer :func:`entries` from this index (what the declaring child read)."""
    _installed.clear()
    _installed.update(index)


def forget() -> None:
    """Plugins were installed or removed: read ``importlib.metadata`` until the next index."""
    _installed.clear()


def entries(group: str) -> list[EntryRef]:
    """The entry points of ``group``: from the installed index, else read now."""
    if group in _installed:
        return list(_installed[group])
    return scan([group])[group]


def fingerprint_of(refs: Iterable[EntryRef], extra_paths: Sequence[str] = ()) -> str:
    """A key that changes whenever the installed plugins could have changed: the
    ``starling.plugins`` entry points, their distributions' versions, and the active
    third-party package paths."""
    h = hashlib.sha256()
    for ep in sorted(refs, key=lambda e: (e.name, e.value)):
        h.update(f"{ep.name}={ep.value}@{ep.dist}=={ep.dist_version}\n".encode())
    for path in extra_paths:
        h.update(f"path:{path}\n".encode())
    return h.hexdigest()[:32]
