"""A plugin folder's public face for the other folders, loaded on first use (PEP 562).

A module named ``_x`` is private to the package that holds it: ``plugins/network/_sockets.py``
belongs to ``plugins.network``, and ``sec.ports`` (in ``plugins/security/``) reaches the
sockets through ``from plugins.network import read_sockets`` (tests/test_import_contracts.py).
A folder whose helpers other folders build on names them in its ``__init__.py``::

    from typing import TYPE_CHECKING

    __all__ = ["Socket", "read_sockets"]

    if TYPE_CHECKING:  # what mypy reads: a misspelt name is an error, not ``Any``
        from ._sockets import Socket, read_sockets
    else:
        from plugins._lazy import attach

        __getattr__, __dir__ = attach(__name__, {"_sockets": __all__})

The names load with their first use, so the folder's own actions import as light as
before (``net.ping`` does not load the socket tables by importing its package).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def attach(package: str, modules: Mapping[str, Iterable[str]]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose public names live in its
    private ``modules`` (module name -> the names it gives)."""
    where = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # later uses are plain lookups
        return value

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__
