"""The Starling plugin SDK: everything a plugin author writes against.

The host side (the plugin host, the executor, the kernel, docs renderers) is
in :mod:`agent_core.host`; a plugin never needs it.
"""

from transports import ErrorCode

from ._context import ActionContext, AgentInfo, TaskInfo
from ._resident import Resident
from ._runner import ProcessResult
from ._sdk import (
    Action,
    ActionError,
    InvalidParams,
    NoParams,
    NotFound,
    Plugin,
    Risk,
    Unavailable,
    action,
    code,
)
from .hookspecs import hookimpl

__all__ = [
    "Action",
    "ActionContext",
    "ActionError",
    "AgentInfo",
    "ErrorCode",
    "InvalidParams",
    "NoParams",
    "NotFound",
    "Plugin",
    "ProcessResult",
    "Resident",
    "Risk",
    "TaskInfo",
    "Unavailable",
    "action",
    "code",
    "hookimpl",
]
