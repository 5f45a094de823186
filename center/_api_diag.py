"""API routes for diagnosis, targeting, host lifecycle, the CMDB and the chat bot.

Their rows are in the route table (:data:`center._authz.ROUTES`: who may call
each, what it audits); :func:`center._api.build_app` mounts the handlers of
:func:`diag_handlers` with the same wrapper as every other route.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.responses import Response

from transports import ErrorCode, StarlingError

from ._center import Center, JobRequest
from ._cmdb import CmdbImport, check, cmdb_records, import_records, sync_tags
from ._diagnosis import find_host, job_diagnoses
from ._http import json_response, parse, read_body
from ._rows import HostRow
from ._select import Selector, selector_matches
from ._store import Store, agents

Handler = Callable[[Any], Awaitable[Response]]

#: Columns a host listing shows for a dry run.
HOST_FIELDS = ("id", "hostname", "ip", "idc", "os", "version", "online", "code", "tags", "last_seen")


def _forget(store: Store, agent_id: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(agents.delete().where(agents.c.id == agent_id))


def selector_from_query(q: dict[str, Any]) -> Selector | None:
    """``/v1/hosts`` filters: ``tags_all``, ``tags_none``, ``exclude``, ``os``, ``version``, ``health``."""
    raw: dict[str, Any] = {
        "tags_all": q.get("tags_all"), "tags_none": q.get("tags_none"), "exclude_hosts": q.get("exclude"),
        "os": q.get("os"), "versions": q.get("version"), "health": q.get("health"),
    }
    raw = {k: v for k, v in raw.items() if v}
    if not raw:
        return None
    try:
        return msgspec.convert(raw, Selector)
    except msgspec.ValidationError as exc:
        raise StarlingError(f"invalid host filter: {exc}", code=ErrorCode.C001) from exc


def host_view(host: HostRow, diagnosis: dict[str, Any]) -> dict[str, Any]:
    """A host as ``GET /v1/hosts`` lists it: its columns but the public key, the
    meaning of its code, its diagnosis and its owner."""
    view = msgspec.structs.asdict(host)
    del view["public_key"]
    if host.code:
        view["meaning"] = ErrorCode.of(host.code, ErrorCode.E001).meaning
    d = diagnosis
    view["diagnosis"] = {"code": d["code"], "summary": d["summary"], "healthy": d["healthy"], "findings": d["findings"]}
    view["owner"] = d["owner"]
    return view


async def refine_hosts(center: Center, query: dict[str, Any], rows: list[HostRow]) -> list[dict[str, Any]]:
    """Apply the selector filters of a host listing; the views of the hosts kept,
    with each host's health (its diagnosis code and summary) and owner."""
    sel = selector_from_query(query)
    docs = await center.diagnoser.hosts(rows)
    if sel is not None:
        rows = [r for r in rows if selector_matches(r, sel, lambda r: docs[r.id]["healthy"])]
    return [host_view(r, docs[r.id]) for r in rows]


async def attach_diagnoses(center: Center, job_id: str, results: list[dict[str, Any]]) -> None:
    """Add each failed result's recorded diagnosis (made when it failed)."""
    ids = [r["task_id"] for r in results if r["state"] != "succeeded"]
    store = center.store
    docs = await store.call(job_diagnoses, store.sync, job_id, ids)
    for r in results:
        if r["task_id"] in docs:
            r["diagnosis"] = docs[r["task_id"]]


def diag_handlers(center: Center, audit: Callable[[str, str, str, Any], None]) -> dict[str, Handler]:
    """The handlers of these routes, by the names the route table
    (:data:`center._authz.ROUTES`) gives them. ``call`` is ``center._api.Call``."""
    store = center.store

    def _in_scope(call: Any, host: HostRow) -> bool:
        return bool(call.account is None or call.account.admin or call.account.scope.allows_host(host))

    async def targets(call: Any) -> Response:
        """Dry run: the hosts a job request would run on, and their count."""
        from ._select import resolve_targets

        req = await parse(call.request, JobRequest)
        res = await resolve_targets(center, req, time.time())
        live = [t for t in res.targets if not t.revoked]
        inside = [t for t in live if _in_scope(call, t)]
        plan = center.rollouts.plan(req, inside, time.time())
        skipped = set(plan.skipped) if plan else set()
        hosts = [{k: getattr(t, k) for k in HOST_FIELDS} | ({"skip": True} if t.id in skipped else {}) for t in inside]
        doc: dict[str, Any] = {"count": len(hosts), "hosts": hosts, "revoked": [t.hostname for t in res.targets if t.revoked and _in_scope(call, t)]}
        doc |= res.notes()
        if len(inside) < len(live):
            doc["outside_scope"] = len(live) - len(inside)
        if plan is not None:
            from ._rollout import wave_ends

            runnable = len(inside) - len(skipped)
            doc["rollout"] = {"skipped": len(skipped), "waves": wave_ends(plan.spec, runnable) if runnable else [], "first_release": plan.first}
        return json_response(doc)

    async def host_diag(call: Any) -> Response:
        name = call.path("host")
        host = await store.call(find_host, store.sync, name)
        if host is None or not _in_scope(call, host):
            raise StarlingError(f"no host {name!r} that this account may see", code=ErrorCode.C002)
        if call.query["live"]:
            return json_response(await center.diagnoser.live(host.id, call.key_id))
        return json_response((await center.diagnoser.hosts([host]))[host.id])

    async def forget_host(call: Any) -> Response:
        name = call.path("host")
        host = await store.call(find_host, store.sync, name)
        if host is None:
            raise StarlingError(f"no host {name}", code=ErrorCode.C002)
        if host.online and not call.query["force"]:
            raise StarlingError(f"host {host.hostname} is online: stop its agent or revoke it first, or pass force=1", code=ErrorCode.C001)
        await store.call(_forget, store.sync, host.id)
        audit(call.key_id, "host.forget", host.id, {"hostname": host.hostname, "sn": host.sn})
        return json_response({"host": host.id, "hostname": host.hostname, "forgotten": True})

    async def cmdb_import(call: Any) -> Response:
        req = await parse(call.request, CmdbImport)
        n = await store.call(import_records, store.sync, req.records, req.replace)
        audit(call.key_id, "cmdb.import", "cmdb", {"records": n, "replace": req.replace})
        return json_response({"imported": n, "replace": req.replace})

    async def cmdb_list(call: Any) -> Response:
        rows = [msgspec.structs.asdict(r) for r in await store.call(cmdb_records, store.sync)]
        return json_response({"records": rows, "count": len(rows)})

    async def cmdb_check(call: Any) -> Response:
        return json_response(await store.call(check, store.sync))

    async def cmdb_sync(call: Any) -> Response:
        doc = await store.call(sync_tags, store.sync)
        audit(call.key_id, "cmdb.sync", "cmdb", {"updated": doc["updated"]})
        return json_response(doc)

    async def chat(call: Any) -> Response:
        from ._chat import handle

        body = await read_body(call.request)
        headers = {k.lower(): v for k, v in call.request.headers.items()}
        return json_response(await handle(center, call.path("tool"), headers, body, center.chat_secrets, center.chat_account))

    return {
        "targets": targets, "host_diag": host_diag, "forget_host": forget_host, "cmdb": cmdb_list,
        "cmdb_import": cmdb_import, "cmdb_check": cmdb_check, "cmdb_sync": cmdb_sync, "chat": chat,
    }
