"""The Starling plugin SDK: everything a plugin author writes against.

The host side (the plugin host, the executor, the kernel, docs renderers) is
in :mod:`agent_core.host`; a plugin never needs it.
"""

from typing import TYPE_CHECKING, Any

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
from ._streams import StreamEnd
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
    "PtyProcess",
    "Resident",
    "Risk",
    "StreamEnd",
    "TaskInfo",
    "Unavailable",
    "action",
    "code",
    "hookimpl",
    "open_pty",
]

if TYPE_CHECKING:
    from ._pty import PtyProcess, open_pty

_LAZY = {
    # Terminals are rare: the PTY code loads with the first one.
    "open_pty": "._pty", "PtyProcess": "._pty",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
