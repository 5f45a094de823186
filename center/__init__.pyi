"""The Starling center: API, routing, storage, policy; the proxy role; the CLI."""

from ._center import Center
from ._chat import ChatAdapter
from ._cmdb import CmdbRecord, CmdbSource, FileSource, HttpSource
from ._config import CenterConfig, ProxyConfig
from ._requests import JobRequest
from ._rollout import Rollout
from ._rows import HostRow, JobRow, NewTask, ProxyRow, TaskRow
from ._select import Selector, host_matches
from ._store import AsyncStore, Store
from .cli import ApiError, Client

__all__ = [
    "ApiError",
    "AsyncStore",
    "Center",
    "CenterConfig",
    "ChatAdapter",
    "Client",
    "CmdbRecord",
    "CmdbSource",
    "FileSource",
    "HostRow",
    "HttpSource",
    "JobRequest",
    "JobRow",
    "NewTask",
    "ProxyConfig",
    "ProxyRow",
    "Rollout",
    "Selector",
    "Store",
    "TaskRow",
    "host_matches",
]
