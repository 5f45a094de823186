"""Readiness and metrics endpoints of the center (``/v1/ready``, ``/metrics``).

``/v1/health`` (in ``_api``) is liveness: the process answers. ``/v1/ready``
says whether this center can do its job now: its database answers within
:data:`DB_CHECK_SECONDS`, and at least one proxy is linked (without one, no
task can reach an agent). A load balancer sends callers only to ready
centers; an orchestrator restarts a center only when it is not live.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from transports import ErrorCode

from ._http import error_response, json_response
from ._metrics import CONTENT_TYPE, ping_db, render, state_counts

if TYPE_CHECKING:
    from ._center import Center

log = logging.getLogger("starling.center")

#: A database slower than this to answer ``SELECT 1`` counts as unreachable.
DB_CHECK_SECONDS = 3.0


async def _db(center: Center, fn: Any) -> tuple[Any, str]:
    """Run a blocking store function in a thread, bounded; (result, error)."""
    try:
        with trio.move_on_after(DB_CHECK_SECONDS):
            return await trio.to_thread.run_sync(fn, center.store.sync, abandon_on_cancel=True), ""
        return None, f"no answer within {DB_CHECK_SECONDS:g}s"
    except Exception as exc:  # any driver error means "unreachable" here
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


async def readiness(center: Center) -> tuple[ErrorCode | None, dict[str, Any]]:
    """The first failing dependency's code (or None) and every check's outcome."""
    _, db_error = await _db(center, ping_db)
    center.metrics.db_up.set(0 if db_error else 1)
    linked = sorted(center.links)
    checks: dict[str, Any] = {
        "database": {"ok": not db_error, **({"error": db_error} if db_error else {})},
        "proxies": {"ok": bool(linked), "linked": linked},
    }
    if db_error:
        return ErrorCode.C016, checks
    if not linked:
        return ErrorCode.C015, checks
    return None, checks


async def ready_endpoint(center: Center, request: Request) -> Response:
    code, checks = await readiness(center)
    if code is None:
        return json_response({"ready": True, "center": center.center_id, "checks": checks})
    if code is ErrorCode.C016:
        log.warning("not ready: database unreachable (%s)", checks["database"].get("error"), extra={"code": code.value})
    return error_response(code, f"center {center.center_id} not ready: {code.meaning}", status=503, checks=checks)


async def metrics_endpoint(center: Center, request: Request) -> Response:
    center.metrics.refresh_links(center)
    counts, _error = await _db(center, state_counts)
    center.metrics.refresh_states(counts)
    return Response(render(center.metrics.registry), media_type=CONTENT_TYPE)


def ops_routes(center: Center) -> list[Route]:
    """``/v1/ready`` and ``/metrics``, unauthenticated and not audited (probes
    and scrapers call them every few seconds)."""

    async def ready(request: Request) -> Response:
        return await ready_endpoint(center, request)

    async def metrics(request: Request) -> Response:
        return await metrics_endpoint(center, request)

    return [Route("/v1/ready", ready), Route("/metrics", metrics)]
