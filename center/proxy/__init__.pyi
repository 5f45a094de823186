"""The proxy (channel) role: holds agent connections for one IDC."""

from ._files import ProxyFiles
from ._http import serve_proxy_http
from ._proxy import AgentConn, Proxy
from ._workers import run_workers, worker_count

__all__ = ["AgentConn", "Proxy", "ProxyFiles", "run_workers", "serve_proxy_http", "worker_count"]
