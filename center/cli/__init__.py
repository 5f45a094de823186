"""``starling``, the operator's command line, and the API client it uses.

The CLI is a package of its own inside the center's distribution: importing it, or its
client, never loads the server stack (contracts in pyproject.toml, [tool.importlinter];
what each command loads at run time: tests/center/test_cli_startup.py).

    from center.cli import Client            # the signed HTTP API client
    c = Client.from_profile()
    from center.cli import main              # the command line: main(["hosts", "--json"])

Modules, lowest first: ``_client`` (HTTP, signing) < ``_views`` (the ``--json``
documents) < ``_render`` (terminal output) < the commands (``_jobs``, ``_admin``,
``_diag``, ``_cp``, ``_setup``, ``_upgrade``) < ``_main`` (the parser, exit codes).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._client import ApiError, Client
    from ._main import EXIT_CODES, build_parser, main

__all__ = ["EXIT_CODES", "ApiError", "Client", "build_parser", "main"]

# Each name loads its module on first use: `from center.cli._client import Client` (as
# `starling up` does) runs none of the commands' modules, and the client's httpx loads
# only when the client is asked for.
_WHERE = {"ApiError": "_client", "Client": "_client", "EXIT_CODES": "_main", "build_parser": "_main", "main": "_main"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
