"""API routes for diagnosis, targeting, host lifecycle, the CMDB and the chat bot.

Mounted by :func:`center._api.build_app` (``extra_routes``); each handler uses
the same ``guarded`` wrapper (authentication, error codes, audit) as the rest.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from transports import ErrorCode, StarlingError

from ._center import Center, JobRequest
from ._cmdb import CmdbImport, check, cmdb_records, import_records, sync_tags
from ._diagnosis import find_host, job_diagnoses
from ._http import json_response, parse, read_body
from ._select import Selector, selector_matches
from ._store import Store, agents

Handler = Callable[[Request, str], Awaitable[Response]]
Guard = Callable[..., Callable[[Request], Awaitable[Response]]]

#: Columns a host listing shows for a dry run.
HOST_FIELDS = ("id", "hostname", "ip", "idc", "os", "version", "online", "code", "tags", "last_seen")


def _forget(store: Store, agent_id: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(agents.delete().where(agents.c.id == agent_id))


def selector_from_query(request: Request) -> Selector | None:
    """``/v1/hosts`` filters: ``tags_all``, ``tags_none``, ``exclude``, ``os``, ``version``, ``health``."""
    q = request.query_params
    raw: dict[str, Any] = {
        "tags_all": q.getlist("tags_all"), "tags_none": q.getlist("tags_none"), "exclude_hosts": q.getlist("exclude"),
        "os": q.getlist("os"), "versions": q.getlist("version"), "health": q.get("health", ""),
    }
    raw = {k: v for k, v in raw.items() if v}
    if not raw:
        return None
    import msgspec

    try:
        return msgspec.convert(raw, Selector)
    except msgspec.ValidationError as exc:
        raise StarlingError(f"invalid host filter: {exc}", code=ErrorCode.C001) from exc


async def refine_hosts(center: Center, request: Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply the selector filters of a host listing and add each host's health
    (its diagnosis code and summary) and owner."""
    sel = selector_from_query(request)
    docs = await center.diagnoser.hosts(rows)
    if sel is not None:
        rows = [r for r in rows if selector_matches(r, sel, lambda r: docs[r["id"]]["healthy"])]
    for r in rows:
        d = docs[r["id"]]
        r["diagnosis"] = {"code": d["code"], "summary": d["summary"], "healthy": d["healthy"], "findings": d["findings"]}
        r["owner"] = d["owner"]
    return rows


async def attach_diagnoses(center: Center, job_id: str, results: list[dict[str, Any]]) -> None:
    """Add each failed result's recorded diagnosis (made when it failed)."""
    ids = [r["task_id"] for r in results if r["state"] != "succeeded"]
    store = center.store
    docs = await store.call(job_diagnoses, store.sync, job_id, ids)
    for r in results:
        if r["task_id"] in docs:
            r["diagnosis"] = docs[r["task_id"]]


def extra_routes(center: Center, guarded: Guard, require_admin: Callable[[str], Awaitable[None]]) -> list[Route]:
    store = center.store

    async def resolve(request: Request, account: str) -> Response:
        """Dry run: the hosts a job request would run on, and their count."""
        req = await parse(request, JobRequest)
        from ._select import resolve_targets

        res = await resolve_targets(center, req, time.time())
        live = [t for t in res.targets if not t["revoked"]]
        plan = center.rollouts.plan(req, live, time.time())
        skipped = set(plan.skipped) if plan else set()
        hosts = [{k: t.get(k) for k in HOST_FIELDS} | ({"skip": True} if t["id"] in skipped else {}) for t in live]
        doc: dict[str, Any] = {"count": len(hosts), "hosts": hosts, "revoked": [t["hostname"] for t in res.targets if t["revoked"]]} | res.notes()
        if plan is not None:
            from ._rollout import wave_ends

            runnable = len(live) - len(skipped)
            doc["rollout"] = {"skipped": len(skipped), "waves": wave_ends(plan.spec, runnable) if runnable else [], "first_release": plan.first}
        return json_response(doc)

    async def diag(request: Request, account: str) -> Response:
        name = request.path_params["host"]
        if request.query_params.get("live", "1") != "0":
            return json_response(await center.diagnoser.live(name, account))
        host = await store.call(find_host, store.sync, name)
        if host is None:
            raise StarlingError(f"unknown host {name!r}", code=ErrorCode.C002)
        return json_response((await center.diagnoser.hosts([host]))[host["id"]])

    async def forget(request: Request, account: str) -> Response:
        await require_admin(account)
        name = request.path_params["host"]
        host = await store.call(find_host, store.sync, name)
        if host is None:
            raise StarlingError(f"no host {name}", code=ErrorCode.C002)
        if host["online"] and request.query_params.get("force") not in ("1", "true"):
            raise StarlingError(f"host {host['hostname']} is online: stop its agent first, or revoke it, or pass force=1", code=ErrorCode.C001)
        await store.call(_forget, store.sync, host["id"])
        center._audit(account, "host.forget", host["id"], {"hostname": host["hostname"], "sn": host["sn"]})
        return json_response({"host": host["id"], "hostname": host["hostname"], "forgotten": True})

    async def cmdb_import(request: Request, account: str) -> Response:
        await require_admin(account)
        req = await parse(request, CmdbImport)
        n = await store.call(import_records, store.sync, req.records, req.replace)
        center._audit(account, "cmdb.import", "cmdb", {"records": n, "replace": req.replace})
        return json_response({"imported": n, "replace": req.replace})

    async def cmdb_list(request: Request, account: str) -> Response:
        rows = await store.call(cmdb_records, store.sync)
        return json_response({"records": rows, "count": len(rows)})

    async def cmdb_check(request: Request, account: str) -> Response:
        return json_response(await store.call(check, store.sync))

    async def cmdb_sync(request: Request, account: str) -> Response:
        await require_admin(account)
        doc = await store.call(sync_tags, store.sync)
        center._audit(account, "cmdb.sync", "cmdb", {"updated": doc["updated"]})
        return json_response(doc)

    async def chat(request: Request, account: str) -> Response:
        from ._chat import handle

        body = await read_body(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        return json_response(await handle(center, request.path_params["tool"], headers, body, center.chat_secrets, center.chat_account))

    return [
        Route("/v1/targets", guarded(resolve), methods=["POST"]),
        Route("/v1/hosts/{host}/diag", guarded(diag)),
        Route("/v1/hosts/{host}", guarded(forget), methods=["DELETE"]),
        Route("/v1/cmdb", guarded(cmdb_list), methods=["GET"]),
        Route("/v1/cmdb/import", guarded(cmdb_import), methods=["POST"]),
        Route("/v1/cmdb/check", guarded(cmdb_check)),
        Route("/v1/cmdb/sync", guarded(cmdb_sync), methods=["POST"]),
        Route("/v1/chat/{tool}", guarded(chat, auth=False), methods=["POST"]),
    ]


def extra_paths(op: Callable[..., dict[str, Any]], path_param: Callable[[str], dict[str, Any]], query: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The OpenAPI entries of these routes."""
    host = [path_param("host")]
    return {
        "/v1/targets": {"post": op("Dry run: the hosts a job request selects, and their count", body="JobRequest")},
        "/v1/hosts/{host}/diag": {"get": op("Diagnose a host; live=1 (default) checks each hop now", params=[*host, query("live")])},
        "/v1/hosts/{host}": {"delete": op("Forget a host (admin); refused while online unless force=1", params=[*host, query("force")])},
        "/v1/cmdb": {"get": op("The CMDB records as imported")},
        "/v1/cmdb/import": {"post": op("Import CMDB records (admin)", body="CmdbImport")},
        "/v1/cmdb/check": {"get": op("Every mismatch between the CMDB and the agents")},
        "/v1/cmdb/sync": {"post": op("Merge CMDB tags into the hosts' tags (admin)")},
        "/v1/chat/{tool}": {"post": op("Chat-bot webhook (slack, dingtalk, feishu), verified by the tool's signature", signed=False, params=[path_param("tool")])},
    }

