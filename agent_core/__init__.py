"""The Starling agent kernel and the plugin SDK."""

from transports import ErrorCode

from ._catalogue import render_catalogue, render_hooks, write_plugin_docs
from ._context import ActionContext, AgentInfo, TaskInfo
from ._executor import execute
from ._kernel import Kernel
from ._plugins import ENTRY_POINT_GROUP, LoadedPlugin, PluginHost
from ._resident import Resident
from ._runner import ProcessResult, kill_tree, run_process
from ._sdk import Action, ActionError, NoParams, Plugin, Risk, Unavailable, action, code
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
    "Resident",
    "Risk",
    "TaskInfo",
    "Unavailable",
    "action",
    "code",
    "execute",
    "hookimpl",
    "hookspec",
    "kill_tree",
    "render_catalogue",
    "render_hooks",
    "run_process",
    "write_plugin_docs",
]
