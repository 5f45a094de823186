"""The host side of agent_core: what runs plugins, not what plugins are written against.

The agent, the simulated fleet, the CLI's ``plugins doc``/``plugin new`` and
tests import these names from here explicitly; a plugin author never needs
them (``import agent_core`` is the author's surface). Heavy or rarely used
parts (docs renderers, scaffold, identity, registration) load on first use so
the idle agent stays small.
"""

from typing import TYPE_CHECKING, Any

from ._executor import execute
from ._kernel import Kernel, kernel_of
from ._plugins import ENTRY_POINT_GROUP, LoadedPlugin, PluginHost
from ._runner import kill_tree, run_process
from ._sdk import declared_in
from .hookspecs import hookspec

__all__ = [
    "AgentSession",
    "BUILTIN_DIST",
    "ChunkClient",
    "ENROLL_REFUSED",
    "ENTRY_POINT_GROUP",
    "Enrollment",
    "Identity",
    "Kernel",
    "KeySigner",
    "LoadedPlugin",
    "PluginHost",
    "ProxyInfo",
    "RegistrationError",
    "ResidentSupervisor",
    "SessionOwner",
    "SessionSettings",
    "StreamHub",
    "builtin_plugin_names",
    "call_action",
    "catalogue_for",
    "declared_in",
    "enroll_on",
    "enroll_request",
    "execute",
    "hookspec",
    "hookspec_functions",
    "journal_epoch",
    "kernel_of",
    "kill_tree",
    "new_plugin",
    "open_journal_db",
    "parse_params",
    "register",
    "render_catalogue",
    "render_hooks",
    "resident_plugin_names",
    "run_process",
    "write_plugin_docs",
]

if TYPE_CHECKING:
    from ._call import call_action, parse_params
    from ._catalogue import (
        BUILTIN_DIST,
        builtin_plugin_names,
        hookspec_functions,
        render_catalogue,
        render_hooks,
        write_plugin_docs,
    )
    from ._chunks import ChunkClient
    from ._declare import catalogue_for
    from ._identity import Identity
    from ._journal import journal_epoch, open_journal_db
    from ._register import (
        ENROLL_REFUSED,
        Enrollment,
        ProxyInfo,
        RegistrationError,
        enroll_on,
        enroll_request,
        register,
    )
    from ._residents import ResidentSupervisor, resident_plugin_names
    from ._scaffold import new_plugin
    from ._session import AgentSession, KeySigner, SessionOwner, SessionSettings
    from ._streams import StreamHub

_LAZY = {
    "call_action": "._call",
    "parse_params": "._call",
    "BUILTIN_DIST": "._catalogue",
    "builtin_plugin_names": "._catalogue",
    "hookspec_functions": "._catalogue",
    "ResidentSupervisor": "._residents",
    "resident_plugin_names": "._residents",
    "render_catalogue": "._catalogue",
    "render_hooks": "._catalogue",
    "write_plugin_docs": "._catalogue",
    "ChunkClient": "._chunks",
    "AgentSession": "._session",
    "KeySigner": "._session",
    "SessionOwner": "._session",
    "SessionSettings": "._session",
    "catalogue_for": "._declare",
    "Identity": "._identity",
    "journal_epoch": "._journal",
    "open_journal_db": "._journal",
    "Enrollment": "._register",
    "ProxyInfo": "._register",
    "RegistrationError": "._register",
    "register": "._register",
    "ENROLL_REFUSED": "._register",
    "enroll_on": "._register",
    "enroll_request": "._register",
    "new_plugin": "._scaffold",
    "StreamHub": "._streams",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], "agent_core"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
