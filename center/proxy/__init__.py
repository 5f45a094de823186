"""The proxy (channel) role: holds agent connections for one IDC."""

from ._proxy import AgentConn, Proxy

__all__ = ["AgentConn", "Proxy"]
