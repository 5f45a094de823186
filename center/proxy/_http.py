"""The proxy's small HTTP listener: ``/v1/health``, ``/v1/ready``, ``/metrics``.

Liveness is "the process answers"; readiness is "at least one center link is
up", since a proxy without a link cannot take dispatches or pass results on
(agents that reach it then are told P007 and go elsewhere). Plain HTTP on the
address in ``http_listen`` (``host:port``): bind it to a management network
or loopback; it serves no secrets.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve as hyper_serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from transports import ErrorCode

from .._http import error_response, json_response
from .._metrics import CONTENT_TYPE, render

if TYPE_CHECKING:
    from ._proxy import Proxy


def build_proxy_app(proxy: Proxy) -> Starlette:
    async def health(request: Request) -> Response:
        return json_response({"ok": True, "proxy": proxy.proxy_id, "idc": proxy.idc, "time": time.time()})

    async def ready(request: Request) -> Response:
        linked = sorted(proxy._links)
        checks = {
            "centers": {"ok": bool(linked), "linked": linked},
            "agents": {"ok": True, "connected": len(proxy.agents), "capacity": proxy.capacity},
        }
        if not linked:
            return error_response(ErrorCode.P007, f"proxy {proxy.proxy_id} not ready: no center link", status=503, checks=checks)
        return json_response({"ready": True, "proxy": proxy.proxy_id, "checks": checks})

    async def metrics(request: Request) -> Response:
        return Response(render(proxy.metrics.registry), media_type=CONTENT_TYPE)

    return Starlette(routes=[Route("/v1/health", health), Route("/v1/ready", ready), Route("/metrics", metrics)])


async def serve_proxy_http(proxy: Proxy, listen: str, *, task_status: Any) -> None:
    """Serve the app on ``listen`` (``host:port``) until cancelled."""
    hc = HyperConfig()
    hc.bind = [listen.split("://", 1)[-1]]
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.graceful_timeout = 1
    await hyper_serve(build_proxy_app(proxy), hc, task_status=task_status)  # type: ignore[arg-type]
