"""The Starling center: API, routing, storage, policy; the proxy role; the CLI."""

from ._center import Center
from ._client import ApiError, Client
from ._config import CenterConfig, ProxyConfig
from ._requests import JobRequest
from ._store import AsyncStore, Store

__all__ = [
    "ApiError",
    "AsyncStore",
    "Center",
    "CenterConfig",
    "Client",
    "JobRequest",
    "ProxyConfig",
    "Store",
]
