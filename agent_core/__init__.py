"""The Starling plugin SDK: everything a plugin author writes against.

Two submodules complete it: :mod:`agent_core.procfs` (readers of ``/proc`` and
``/sys``: sockets, processes, meminfo-style files) and :mod:`agent_core.names`
(validated package, unit, user and group names as params types). The host side
(the plugin host, the executor, the kernel, docs renderers) is in
:mod:`agent_core.host`; a plugin never needs it.
"""

from typing import TYPE_CHECKING, Any

from transports import ErrorCode

from ._atomic import atomic_write, fsync_dir, open_atomic
from ._context import C_LOCALE_ENV, ActionContext, AgentInfo, CancelToken, Stopped, TaskInfo
from ._paths import abs_path, root_dir
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
from ._secrets import MASK, is_secret_name, mask_env, redact_value
from ._streams import StreamEnd
from .hookspecs import hookimpl

__all__ = [
    "Action",
    "ActionContext",
    "ActionError",
    "AgentInfo",
    "C_LOCALE_ENV",
    "CancelToken",
    "ErrorCode",
    "InvalidParams",
    "MASK",
    "NoParams",
    "NotFound",
    "Plugin",
    "ProcessResult",
    "PtyProcess",
    "Resident",
    "Risk",
    "Stopped",
    "StreamEnd",
    "TaskInfo",
    "Unavailable",
    "abs_path",
    "action",
    "atomic_write",
    "code",
    "fsync_dir",
    "hookimpl",
    "is_secret_name",
    "mask_env",
    "open_atomic",
    "open_pty",
    "redact_value",
    "root_dir",
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
