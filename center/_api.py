"""The center's HTTP API (Starlette, served by hypercorn's trio worker)."""

from __future__ import annotations

import base64
import hmac
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from transports import FINAL_STATES, ErrorCode, StarlingError, catalogue_markdown

from . import _credentials
from ._api_diag import attach_diagnoses, extra_routes, refine_hosts
from ._center import Center, JobRequest
from ._cmdb import CmdbImport
from ._http import error_response, int_arg, json_response, parse
from ._openapi import build_openapi

log = logging.getLogger("starling.api")

Authenticator = Callable[[Request], Awaitable[str]]


class AccountRequest(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    scopes: dict[str, Any] = {}
    approver: bool = False
    admin: bool = False


class MappingRequest(msgspec.Struct, forbid_unknown_fields=True):
    commands: list[str]


class RegisterRequest(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    identity: dict[str, Any]
    version: str = ""
    #: The agent's Ed25519 public key, base64 (32 raw bytes).
    public_key: str = ""


def _task_view(row: dict[str, Any]) -> dict[str, Any]:
    code = row.get("code") or ""
    view = {
        "task_id": row["id"],
        "host": row["agent_id"],
        "hostname": row.get("hostname") or "",
        "ip": row.get("ip") or "",
        "state": row["state"],
        "code": code,
        "message": row.get("message") or "",
        "exit_code": row.get("exit_code"),
        "stdout": row.get("stdout") or "",
        "stderr": row.get("stderr") or "",
        "data": row.get("data"),
        "truncated": bool(row.get("truncated")),
        "times": {k: row.get(k) for k in ("created", "dispatched", "delivered", "received", "running", "finished")},
    }
    if code:
        ec = ErrorCode.__members__.get(code)
        if ec is not None:
            view["meaning"], view["hint"] = ec.meaning, ec.hint
    return view


def _job_view(job: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
    done = sum(n for s, n in counts.items() if s in FINAL_STATES)
    return {
        "id": job["id"], "action": job["action"], "account": job["account"], "state": job["state"],
        "created": job["created"], "deadline": job["deadline"], "finished": job["finished"],
        "timeout": job["timeout"], "total": job["total"], "done": done, "counts": counts,
        "complete": done >= job["total"],
    }


def build_app(center: Center, *, enroll_token: str, authenticate: Authenticator, signing_public: Any = None) -> Starlette:
    store = center.store

    def guarded(handler: Callable[[Request, str], Awaitable[Response]], *, auth: bool = True) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            rid = uuid.uuid4().hex[:12]
            account = ""
            try:
                account = await authenticate(request) if auth else ""
                response = await handler(request, account)
            except StarlingError as exc:
                response = error_response(exc.code, exc.message, request_id=rid)
            except Exception:
                log.exception("request %s %s failed (request id %s)", request.method, request.url.path, rid)
                response = error_response(ErrorCode.C020, f"internal error; request id {rid}", request_id=rid)
            if center.audit is not None:
                claimed = request.headers.get("x-starling-key", "")
                center.audit.record(
                    account or (f"unauthenticated:{claimed[:64]}" if claimed else "anonymous"),
                    "api",
                    f"{request.method} {request.url.path}",
                    {"status": response.status_code, "request_id": rid, "peer": request.client.host if request.client else ""},
                )
            return response

        return endpoint

    async def register(request: Request, _: str) -> Response:
        req = await parse(request, RegisterRequest)
        if not enroll_token or not hmac.compare_digest(req.token.encode(), enroll_token.encode()):
            raise StarlingError("enrollment token refused", code=ErrorCode.C017)
        ident = req.identity
        if not isinstance(ident.get("sn"), str) or not ident["sn"]:
            raise StarlingError("identity.sn is required", code=ErrorCode.C001)
        try:
            pubkey = base64.b64decode(req.public_key, validate=True) if req.public_key else b""
        except ValueError:
            pubkey = b"?"
        if len(pubkey) not in (0, 32):
            raise StarlingError("public_key must be a base64 Ed25519 public key", code=ErrorCode.C001)
        agent_id, revoked = await store.register_agent(ident, req.version, req.public_key)
        if revoked:
            raise StarlingError(f"host {agent_id} is revoked", code=ErrorCode.C019)
        idc = ident.get("idc") or "default"
        credential = _credentials.issue(center.signing_key, agent_id, idc, pubkey=pubkey)
        candidates = await store.list_proxies(idc=idc, online=True) or await store.list_proxies(online=True)
        # Least loaded first. Load reports are seconds old, so agents this center
        # sent to a proxy since its last report count too; a little jitter breaks
        # ties between equally loaded proxies.
        candidates.sort(key=lambda p: p["connections"] + center.assigned.get(p["id"], 0) + random.random())
        if candidates:
            center.assigned[candidates[0]["id"]] = center.assigned.get(candidates[0]["id"], 0) + 1
        proxies = [{"id": p["id"], "urls": p["urls"], "idc": p["idc"]} for p in candidates if p["urls"]]
        return json_response({
            "agent_id": agent_id, "credential": credential, "proxies": proxies, "heartbeat": center.heartbeat,
            "center_time": time.time(), "center_keys": {center.key_id: base64.b64encode(center.public_key).decode()},
        })

    async def hosts(request: Request, _: str) -> Response:
        q = request.query_params
        online = {"1": True, "true": True, "0": False, "false": False}.get(q.get("online", ""), None)
        rows = await store.select_agents(
            hosts=q.getlist("host"), tags=q.getlist("tag"), idc=q.get("idc", ""), all_hosts=True,
            online=online, limit=int_arg(request, "limit", 0),
        )
        for r in rows:
            if r["code"]:
                r["meaning"] = ErrorCode.of(r["code"], ErrorCode.E001).meaning
        rows = await refine_hosts(center, request, rows)
        return json_response({"hosts": rows, "count": len(rows)})

    async def revoke(request: Request, _: str) -> Response:
        agent_id = request.path_params["host"]
        if not await center.revoke(agent_id):
            raise StarlingError(f"no host {agent_id}", code=ErrorCode.C002)
        return json_response({"host": agent_id, "revoked": True})

    async def revoke_proxy(request: Request, account: str) -> Response:
        await _admin(account)
        proxy_id = request.path_params["proxy"]
        await center.revoke_proxy(proxy_id)
        return json_response({"proxy": proxy_id, "revoked": True})

    async def list_proxies(request: Request, _: str) -> Response:
        rows = await store.list_proxies()
        for r in rows:
            r["linked"] = r["id"] in center.links
        return json_response({"proxies": rows})

    async def submit(request: Request, account: str) -> Response:
        req = await parse(request, JobRequest)
        return json_response(await center.submit(req, account), 201)

    async def list_jobs(request: Request, _: str) -> Response:
        rows = await store.list_jobs(int_arg(request, "limit", 50, 1, 1000))
        return json_response({"jobs": [_job_view(r, {}) | {"counts": None} for r in rows]})

    async def _job(job_id: str) -> dict[str, Any]:
        job = await store.job(job_id)
        if job is None:
            raise StarlingError(f"no job {job_id}", code=ErrorCode.C004)
        return _job_view(job, await store.job_counts(job_id))

    async def get_job(request: Request, _: str) -> Response:
        job_id = request.path_params["job"]
        view = await _job(job_id)
        if request.query_params.get("results", "1") != "0":
            states = [s for s in request.query_params.getlist("state") if s]
            rows = await store.job_tasks(job_id, offset=int_arg(request, "offset", 0), limit=int_arg(request, "limit", 0), states=states)
            view["results"] = [_task_view(r) for r in rows]
            await attach_diagnoses(center, job_id, view["results"])
        view["rollout"] = await center.rollouts.status(job_id)
        return json_response(view)

    async def wait_job(request: Request, _: str) -> Response:
        job_id = request.path_params["job"]
        seconds = int_arg(request, "timeout", 30, 0, 300)
        end = trio.current_time() + seconds
        view = await _job(job_id)
        while not view["complete"] and trio.current_time() < end:
            await center.wait_progress(job_id, min(1.0, end - trio.current_time()))
            view = await _job(job_id)
        return json_response(view)

    async def events(request: Request, _: str) -> Response:
        job_id = request.path_params["job"]
        await _job(job_id)

        async def stream() -> Any:
            last = None
            while True:
                view = await _job(job_id)
                key = (view["done"], tuple(sorted(view["counts"].items())))
                if key != last:
                    last = key
                    yield f"event: progress\ndata: {msgspec.json.encode(view).decode()}\n\n"
                if view["complete"]:
                    yield "event: done\ndata: {}\n\n"
                    return
                await center.wait_progress(job_id, 1.0)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def output(request: Request, _: str) -> Response:
        """Live output of a job submitted with ``stream: true`` (server-sent
        events ``output`` with host, stream and text; ``done`` at the end)."""
        job_id = request.path_params["job"]
        await _job(job_id)
        names = {r["id"]: r.get("hostname") or r["agent_id"] for r in await store.job_tasks(job_id)}

        async def stream() -> Any:
            cursor = 0
            while True:
                chunks = center.outputs.since(job_id, cursor)
                cursor += len(chunks)
                for c in chunks:
                    doc = {"task_id": c.task_id, "host": names.get(c.task_id, ""), "stream": "stderr" if c.stream == 2 else "stdout", "seq": c.seq, "text": c.data.decode("utf-8", "replace")}
                    yield f"event: output\ndata: {msgspec.json.encode(doc).decode()}\n\n"
                if not chunks:
                    view = await _job(job_id)
                    if view["complete"]:
                        yield "event: done\ndata: {}\n\n"
                        return
                    await center.outputs.wait(job_id, 0.5)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def cancel(request: Request, _: str) -> Response:
        return json_response(await center.cancel(request.path_params["job"]))

    async def approve(request: Request, account: str) -> Response:
        return json_response(await center.decide(request.path_params["job"], account, True))

    async def reject(request: Request, account: str) -> Response:
        return json_response(await center.decide(request.path_params["job"], account, False))

    async def _admin(account: str) -> None:
        from ._policy import load_account

        acct = await store.call(load_account, store.sync, account)
        if not acct.admin:
            raise StarlingError("only an admin account may do this", code=ErrorCode.C009)

    async def create_account(request: Request, account: str) -> Response:
        from ._accounts import create_account as create

        await _admin(account)
        req = await parse(request, AccountRequest)
        key_id, secret = await store.call(create, store.sync, req.name, req.scopes, approver=req.approver, admin=req.admin)
        if center.audit is not None:
            center.audit.record(account, "account.create", key_id, {"name": req.name, "scopes": req.scopes, "approver": req.approver, "admin": req.admin})
        return json_response({"key_id": key_id, "secret": secret, "name": req.name}, 201)

    async def list_accounts(request: Request, account: str) -> Response:
        from ._accounts import list_accounts as listing

        await _admin(account)
        return json_response({"accounts": await store.call(listing, store.sync)})

    async def mapping(request: Request, account: str) -> Response:
        from ._policy import make_mapping

        await _admin(account)
        req = await parse(request, MappingRequest)
        if not req.commands:
            raise StarlingError("give at least one command", code=ErrorCode.C001)
        key_id = request.path_params["key"]
        table = await store.call(make_mapping, store.sync, key_id, req.commands)
        if center.audit is not None:
            center.audit.record(account, "account.mapping", key_id, {"commands": len(table)})
        return json_response({"key_id": key_id, "mapping": table})

    async def audit_records(request: Request, account: str) -> Response:
        await _admin(account)
        assert center.audit is not None
        start = int_arg(request, "after", 0) + 1
        limit = int_arg(request, "limit", 100, 1, 10000)

        def read() -> list[dict[str, Any]]:
            out = []
            for rec in center.audit.log.iter_records(start):
                out.append({"seq": rec.seq, "time": rec.time, "actor": rec.actor, "kind": rec.kind, "subject": rec.subject, "detail": rec.detail_value(), "hash": rec.hash})
                if len(out) >= limit:
                    break
            return out

        return json_response({"records": await store.call(read)})

    async def audit_verify(request: Request, account: str) -> Response:
        await _admin(account)
        assert center.audit is not None
        await center.audit.wait_flushed()
        problems = await store.call(center.audit.log.verify)
        head = await store.call(center.audit.log.head)
        return json_response({
            "ok": not problems, "head": {"seq": head[0], "hash": head[1]} if head else None,
            "problems": [{"kind": p.kind, "seq": p.seq, "detail": str(p)} for p in problems],
        })

    async def codes(request: Request, _: str) -> Response:
        if request.query_params.get("format") == "markdown":
            return Response(catalogue_markdown(), media_type="text/markdown")
        return json_response({"codes": [c.describe() for c in ErrorCode]})

    openapi = build_openapi({"JobRequest": JobRequest, "RegisterRequest": RegisterRequest, "AccountRequest": AccountRequest, "MappingRequest": MappingRequest, "CmdbImport": CmdbImport})

    async def openapi_doc(request: Request, _: str) -> Response:
        return json_response(openapi)

    async def health(request: Request, _: str) -> Response:
        return json_response({"ok": True, "center": center.center_id, "proxies": sorted(center.links), "time": time.time()})

    routes = [
        Route("/v1/health", guarded(health, auth=False)),
        Route("/openapi.json", guarded(openapi_doc, auth=False)),
        Route("/v1/agents/register", guarded(register, auth=False), methods=["POST"]),
        Route("/v1/codes", guarded(codes, auth=False)),
        Route("/v1/hosts", guarded(hosts)),
        Route("/v1/hosts/{host}/revoke", guarded(revoke), methods=["POST"]),
        Route("/v1/proxies", guarded(list_proxies)),
        Route("/v1/proxies/{proxy}/revoke", guarded(revoke_proxy), methods=["POST"]),
        Route("/v1/jobs", guarded(submit), methods=["POST"]),
        Route("/v1/jobs", guarded(list_jobs), methods=["GET"]),
        Route("/v1/jobs/{job}", guarded(get_job)),
        Route("/v1/jobs/{job}/wait", guarded(wait_job)),
        Route("/v1/jobs/{job}/events", guarded(events)),
        Route("/v1/jobs/{job}/output", guarded(output)),
        Route("/v1/jobs/{job}/cancel", guarded(cancel), methods=["POST"]),
        Route("/v1/jobs/{job}/approve", guarded(approve), methods=["POST"]),
        Route("/v1/jobs/{job}/reject", guarded(reject), methods=["POST"]),
        Route("/v1/accounts", guarded(create_account), methods=["POST"]),
        Route("/v1/accounts", guarded(list_accounts), methods=["GET"]),
        Route("/v1/accounts/{key}/mapping", guarded(mapping), methods=["POST"]),
        Route("/v1/audit", guarded(audit_records)),
        Route("/v1/audit/verify", guarded(audit_verify)),
        *extra_routes(center, guarded, _admin),
    ]
    return Starlette(routes=routes)
