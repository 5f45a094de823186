"""The Starling agent kernel and the plugin SDK."""

from typing import TYPE_CHECKING, Any

from transports import ErrorCode

from ._context import ActionContext, AgentInfo, TaskInfo
from ._executor import execute
from ._kernel import Kernel
from ._plugins import ENTRY_POINT_GROUP, LoadedPlugin, PluginHost
from ._resident import Resident
from ._runner import ProcessResult, kill_tree, run_process
from ._sdk import Action, ActionError, NoParams, Plugin, Risk, Unavailable, action, code
from ._streams import StreamEnd
from .hookspecs import hookimpl, hookspec

__all__ = [
    "Action",
    "ActionContext",
    "ActionError",
    "AgentInfo",
    "ENTRY_POINT_GROUP",
    "ErrorCode",
    "Kernel",
    "LoadedPlugin",
    "NoParams",
    "Plugin",
    "PluginHost",
    "ProcessResult",
    "PtyProcess",
    "Resident",
    "Risk",
    "StreamEnd",
    "TaskInfo",
    "Unavailable",
    "action",
    "code",
    "execute",
    "hookimpl",
    "hookspec",
    "kill_tree",
    "open_pty",
    "render_catalogue",
    "render_hooks",
    "run_process",
    "write_plugin_docs",
]

if TYPE_CHECKING:
    from ._catalogue import render_catalogue, render_hooks, write_plugin_docs
    from ._pty import PtyProcess, open_pty

# The docs renderers (ast, inspect, every plugin's metadata) load on first use: a running
# agent never needs them, and they cost the idle agent about a megabyte.
_LAZY = {
    "render_catalogue": "._catalogue", "render_hooks": "._catalogue", "write_plugin_docs": "._catalogue",
    # Terminals are rare: the PTY code loads with the first one.
    "open_pty": "._pty", "PtyProcess": "._pty",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
