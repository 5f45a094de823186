"""The center's HTTP API (Starlette, served by hypercorn's trio worker).

Routes, roles, guards, query parameters and auditing come from one table,
:data:`center._authz.ROUTES`; this module holds the handlers and the one
wrapper that applies the table to every request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import trio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute

from transports import FINAL_STATES, ErrorCode, StarlingError, catalogue_markdown

from ._accounts import (
    Account,
    DbKeys,
    SecretBox,
    create_account,
    delete_account,
    list_accounts,
    load_account,
    rotate_secret,
    set_disabled,
)
from ._api_diag import attach_diagnoses, diag_handlers, refine_hosts
from ._audit import AuditTrail
from ._authz import ROUTES, Guard, Query, Role, RouteSpec, may_call, may_read_job
from ._center import Center
from ._cmdb import CmdbImport
from ._console import Console, LoginRequest
from ._enroll import EnrollRequest
from ._files_api import FILE_REQUESTS, file_handlers
from ._http import error_response, json_response, parse
from ._openapi import build_openapi
from ._paging import decode_cursor, encode_cursor
from ._readiness import ops_routes
from ._requests import AccountRequest, JobRequest, MappingRequest, RegisterRequest
from ._rows import JobRow, TaskRow
from ._termauth import TerminalTokenRequest, TokenBook, may_open

log = logging.getLogger("starling.api")

Authenticator = Callable[[Request], Awaitable[str]]
REQUEST_TYPES: dict[str, type] = {
    "JobRequest": JobRequest, "RegisterRequest": RegisterRequest, "AccountRequest": AccountRequest, "MappingRequest": MappingRequest,
    **FILE_REQUESTS,
    "CmdbImport": CmdbImport,
    "LoginRequest": LoginRequest,
    "TerminalTokenRequest": TerminalTokenRequest,
}


@dataclass
class Call:
    """One request as a handler sees it: the caller, parsed query, the guarded job."""

    request: Request
    account: Account | None
    query: dict[str, Any] = field(default_factory=dict)
    job: JobRow | None = None

    @property
    def key_id(self) -> str:
        return self.account.key_id if self.account else ""

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])


def _task_view(row: TaskRow) -> dict[str, Any]:
    """A task as the API shows it (``results`` of ``GET /v1/jobs/{job}``)."""
    code = row.code
    view = {
        "task_id": row.id,
        "host": row.agent_id,
        "hostname": row.hostname or "",
        "ip": row.ip or "",
        "state": row.state,
        "code": code,
        "message": row.message,
        "exit_code": row.exit_code,
        "stdout": row.stdout,
        "stderr": row.stderr,
        "data": row.data,
        "truncated": row.truncated,
        "times": {
            "created": row.created, "dispatched": row.dispatched, "delivered": row.delivered,
            "received": row.received, "running": row.running, "finished": row.finished,
        },
    }
    if code:
        ec = ErrorCode.__members__.get(code)
        if ec is not None:
            view["meaning"], view["hint"] = ec.meaning, ec.hint
    return view


#: Results per ``results`` server-sent event, and characters of stdout/stderr each carries.
LIVE_BATCH = 500
LIVE_CLIP = 8192


def _live_view(row: TaskRow) -> dict[str, Any]:
    """A task's view for the live event stream: outputs clipped to :data:`LIVE_CLIP`
    characters (``clipped`` says so; the job's own route has them whole) and a
    ``digest`` of the whole outputs, so identical outputs still group together."""
    view = _task_view(row)
    out, err = view["stdout"], view["stderr"]
    view["digest"] = hashlib.sha256(f"{len(out)}:{out}{err}".encode("utf-8", "replace")).hexdigest()[:32]
    view["clipped"] = len(out) > LIVE_CLIP or len(err) > LIVE_CLIP
    view["stdout"], view["stderr"] = out[:LIVE_CLIP], err[:LIVE_CLIP]
    return view


def _job_view(job: JobRow, counts: dict[str, int]) -> dict[str, Any]:
    """A job as the API shows it (``GET /v1/jobs`` and ``/v1/jobs/{job}``)."""
    done = sum(n for s, n in counts.items() if s in FINAL_STATES)
    return {
        "job_id": job.id, "id": job.id, "action": job.action, "account": job.account, "state": job.state,
        "created": job.created, "deadline": job.deadline, "finished": job.finished,
        "timeout": job.timeout, "total": job.total, "done": done, "counts": counts,
        "complete": done >= job.total,
    }


def _query(spec: RouteSpec, request: Request) -> dict[str, Any]:
    """The route's declared query parameters, typed and bounded (C001 naming the one that is wrong)."""
    out: dict[str, Any] = {}
    params = request.query_params
    for q in spec.query:
        raw = params.getlist(q.name) if q.many else ([params[q.name]] if q.name in params else [])
        values = [_one(q, r) for r in raw]
        out[q.name] = values if q.many else (values[0] if values else q.default)
    return out


def _one(q: Query, raw: str) -> Any:
    if q.kind == "integer":
        try:
            value: Any = int(raw)
        except ValueError:
            raise StarlingError(f"query parameter {q.name} must be an integer", code=ErrorCode.C001) from None
        if (q.minimum is not None and value < q.minimum) or (q.maximum is not None and value > q.maximum):
            raise StarlingError(f"query parameter {q.name} must be within [{q.minimum}, {q.maximum}]", code=ErrorCode.C001)
        return value
    if q.kind == "boolean":
        truth = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}.get(raw.lower())
        if truth is None:
            raise StarlingError(f"query parameter {q.name} must be true or false", code=ErrorCode.C001)
        return truth
    if q.enum and raw not in q.enum:
        raise StarlingError(f"query parameter {q.name} must be one of {', '.join(q.enum)}", code=ErrorCode.C001)
    if len(raw) > 1024 or "\x00" in raw:
        raise StarlingError(f"query parameter {q.name} is too long or has a NUL", code=ErrorCode.C001)
    return raw


def build_app(center: Center, trail: AuditTrail, *, authenticate: Authenticator, secret_box: SecretBox) -> Starlette:
    store = center.store
    policy = center.policy
    assert policy is not None, "the center needs its policy before it serves"

    def audit(actor: str, kind: str, subject: str, detail: Any) -> None:
        trail.record(actor, kind, subject, detail)

    async def check_secret(key_id: str, secret: str) -> bool:
        known = await store.call(_credentials_secret, store.sync, secret_box, key_id)
        return known is not None and hmac.compare_digest(known, secret.encode())

    console = Console(check_secret, audit)
    authenticate = console.authenticate_with(authenticate)  # a console session, else a signed request

    # -- the one wrapper ------------------------------------------------------------------------

    def endpoint(spec: RouteSpec, handler: Callable[[Call], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            rid = uuid.uuid4().hex[:12]
            account: Account | None = None
            try:
                if spec.role >= Role.ACCOUNT:
                    key_id = await authenticate(request)
                    account = await store.call(load_account, store.sync, key_id)
                    if not may_call(spec, account):
                        raise StarlingError(f"{spec.method} {spec.path} needs the {spec.role.name.lower()} role", code=ErrorCode.C009)
                call = Call(request, account, _query(spec, request))
                if spec.guard in (Guard.JOB_READ, Guard.JOB_CANCEL):
                    assert account is not None
                    call.job = await _guard_job(spec.guard, account, call.path("job"))
                response = await handler(call)
            except StarlingError as exc:
                center.metrics.errors.labels(exc.code.value, "api").inc()
                response = error_response(exc.code, exc.message, request_id=rid)
            except Exception:
                log.exception("request %s %s failed (request id %s)", request.method, request.url.path, rid)
                response = error_response(ErrorCode.C020, f"internal error; request id {rid}", request_id=rid)
            if spec.audit or response.status_code in (401, 403):
                claimed = request.headers.get("x-starling-key", "")
                actor = account.key_id if account else (f"unauthenticated:{claimed[:64]}" if claimed else "anonymous")
                audit(actor, "api", f"{request.method} {request.url.path}", {
                    "status": response.status_code, "request_id": rid, "peer": request.client.host if request.client else "",
                })
            return response

        return run

    async def _guard_job(guard: Guard, account: Account, job_id: str) -> JobRow:
        job = await store.job(job_id)
        if job is None or not may_read_job(account, job) and not (guard is Guard.JOB_CANCEL and await _may_run(account, job)):
            raise StarlingError(f"no job {job_id} that this account may see", code=ErrorCode.C004)
        if guard is Guard.JOB_CANCEL and not (account.admin or job.account == account.key_id or await _may_run(account, job)):
            raise StarlingError("this account may not cancel that job", code=ErrorCode.C009)
        return job

    async def _may_run(account: Account, job: JobRow) -> bool:
        """Could this account have submitted the job itself (action and every host in scope)?"""
        if account.admin:
            return True
        risk = policy.book.actions().get(job.action)
        if not account.scope.allows_action(job.action, risk.risk if risk else "danger"):
            return False
        return all(account.scope.allows_host(h) for h in await store.job_hosts(job.id))

    # -- handlers ---------------------------------------------------------------------------------

    async def health(call: Call) -> Response:
        files = center.files.statistics if center.files is not None else {}
        return json_response({"ok": True, "center": center.center_id, "proxies": sorted(center.links), "time": time.time(), "files": files})

    openapi = build_openapi(ROUTES, REQUEST_TYPES)

    async def openapi_doc(call: Call) -> Response:
        return json_response(openapi)

    async def codes(call: Call) -> Response:
        if call.query["format"] == "markdown":
            return Response(catalogue_markdown(), media_type="text/markdown")
        return json_response({"codes": [c.describe() for c in ErrorCode]})

    async def register(call: Call) -> Response:
        req = await parse(call.request, RegisterRequest)
        # The same checks and batch as enrollments relayed by proxies (center._enroll).
        return json_response(await center.enroller.enroll(EnrollRequest.from_http(req)))

    async def actions(call: Call) -> Response:
        assert call.account is not None
        await center.learn_catalogues(set(await store.all_catalogue_digests()))
        acct = call.account
        out = [
            msgspec.to_builtins(d) for name, d in sorted(policy.book.actions().items())
            if acct.admin or acct.scope.allows_action(name, d.risk)
        ]
        return json_response({"actions": out, "count": len(out)})

    async def hosts(call: Call) -> Response:
        assert call.account is not None
        q = call.query
        # A page is `limit` rows of the listing's order; scope and filters then drop some,
        # so a page may hold fewer: `next` (while there is one) continues after the rows scanned.
        rows = await store.select_agents(
            hosts=q["host"], tags=q["tag"], idc=q["idc"] or "", all_hosts=True, online=q["online"], limit=q["limit"],
            after=decode_cursor(q["cursor"], str, str),
        )
        more = encode_cursor(rows[-1].hostname, rows[-1].id) if q["limit"] and len(rows) >= q["limit"] else None
        if not call.account.admin:
            rows = [r for r in rows if call.account.scope.allows_host(r)]
        views = await refine_hosts(center, q, rows)
        return json_response({"hosts": views, "count": len(views), "next": more})

    async def _revoke_host(call: Call, revoked: bool) -> Response:
        agent_id = call.path("host")
        if not await center.revoke(agent_id, revoked):
            raise StarlingError(f"no host {agent_id}", code=ErrorCode.C002)
        audit(call.key_id, "host.revoke" if revoked else "host.restore", agent_id, {})
        return json_response({"host": agent_id, "revoked": revoked})

    async def revoke_host(call: Call) -> Response:
        return await _revoke_host(call, True)

    async def restore_host(call: Call) -> Response:
        return await _revoke_host(call, False)

    async def proxies(call: Call) -> Response:
        rows = await store.list_proxies()
        return json_response({"proxies": [msgspec.structs.asdict(r) | {"linked": r.id in center.links} for r in rows]})

    async def revoke_proxy(call: Call) -> Response:
        proxy_id = call.path("proxy")
        if not await center.revoke_proxy(proxy_id):
            raise StarlingError(f"no proxy {proxy_id}", code=ErrorCode.C027)
        return json_response({"proxy": proxy_id, "revoked": True})

    async def restore_proxy(call: Call) -> Response:
        proxy_id = call.path("proxy")
        if not await store.revoke_proxy(proxy_id, False):
            raise StarlingError(f"no proxy {proxy_id}", code=ErrorCode.C027)
        audit(call.key_id, "proxy.restore", proxy_id, {})
        return json_response({"proxy": proxy_id, "revoked": False})

    async def submit(call: Call) -> Response:
        req = await parse(call.request, JobRequest)
        answer = await center.submit(req, call.key_id)
        return json_response(answer, 202 if answer["state"] == "pending_approval" else 201)

    async def jobs(call: Call) -> Response:
        acct = call.account
        assert acct is not None
        q = call.query
        before = decode_cursor(q["cursor"], float, str)
        if acct.admin:
            scope = [q["account"]] if q["account"] else None
            rows = await store.list_jobs(q["limit"], accounts=scope, state=q["state"] or "", action=q["action"] or "", before=before)
        else:
            rows = await store.list_jobs(
                q["limit"], accounts=[acct.key_id], also_state="pending_approval" if acct.approver else "",
                state=q["state"] or "", action=q["action"] or "", before=before,
            )
        counts = await store.job_counts_many([r.id for r in rows])
        more = encode_cursor(rows[-1].created, rows[-1].id) if len(rows) >= q["limit"] else None
        return json_response({"jobs": [_job_view(r, counts[r.id]) for r in rows], "next": more})

    async def _view(job: JobRow) -> dict[str, Any]:
        return _job_view(job, await store.job_counts(job.id))

    async def _fresh(job_id: str) -> dict[str, Any]:
        job = await store.job(job_id)
        assert job is not None
        return await _view(job)

    async def job(call: Call) -> Response:
        assert call.job is not None
        view = await _view(call.job)
        if call.query["results"]:
            rows = await store.job_tasks(call.job.id, offset=call.query["offset"], limit=call.query["limit"], states=call.query["state"])
            view["results"] = [_task_view(r) for r in rows]
            await attach_diagnoses(center, call.job.id, view["results"])
        view["rollout"] = await center.rollouts.status(call.job.id)
        return json_response(view)

    async def wait(call: Call) -> Response:
        assert call.job is not None
        job_id = call.job.id
        end = trio.current_time() + call.query["timeout"]
        view = await _view(call.job)
        while not view["complete"] and trio.current_time() < end:
            await center.wait_progress(job_id, min(1.0, end - trio.current_time()))
            view = await _fresh(job_id)
        return json_response(view)

    async def events(call: Call) -> Response:
        assert call.job is not None
        job_id = call.job.id

        live = call.query["results"]

        async def stream() -> Any:
            last = None
            seen: set[str] = set()
            while True:
                view = await _fresh(job_id)
                key = (view["done"], tuple(sorted(view["counts"].items())))
                if live and view["done"] > len(seen):
                    # Each result once, as it becomes final: a 10,000-host page never re-reads the whole list.
                    fresh = [i for i in await store.job_final_ids(job_id) if i not in seen]
                    for start in range(0, len(fresh), LIVE_BATCH):
                        chunk = fresh[start:start + LIVE_BATCH]
                        seen.update(chunk)
                        rows = [_live_view(r) for r in await store.tasks_by_id(job_id, chunk)]
                        yield f"event: results\ndata: {msgspec.json.encode({'results': rows}).decode()}\n\n"
                if key != last:
                    last = key
                    yield f"event: progress\ndata: {msgspec.json.encode(view).decode()}\n\n"
                if view["complete"]:
                    yield "event: done\ndata: {}\n\n"
                    return
                await center.wait_progress(job_id, 1.0)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def output(call: Call) -> Response:
        """Live output of a job submitted with ``stream: true`` (server-sent
        events ``output`` with host, stream and text; ``done`` at the end)."""
        assert call.job is not None
        job_id = call.job.id
        names = {r.id: r.hostname or r.agent_id for r in await store.job_tasks(job_id)}

        async def stream() -> Any:
            cursor = 0
            while True:
                chunks = center.outputs.since(job_id, cursor)
                cursor += len(chunks)
                for c in chunks:
                    doc = {"task_id": c.task_id, "host": names.get(c.task_id, ""), "stream": "stderr" if c.stream == 2 else "stdout", "seq": c.seq, "text": c.data.decode("utf-8", "replace")}
                    yield f"event: output\ndata: {msgspec.json.encode(doc).decode()}\n\n"
                if not chunks:
                    view = await _fresh(job_id)
                    if view["complete"]:
                        yield "event: done\ndata: {}\n\n"
                        return
                    await center.outputs.wait(job_id, 0.5)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def cancel(call: Call) -> Response:
        assert call.job is not None
        answer = await center.cancel(call.job.id)
        audit(call.key_id, "job.cancel", call.job.id, {"submitter": call.job.account})
        return json_response(answer)

    async def pause(call: Call) -> Response:
        assert call.job is not None
        return json_response(await center.rollouts.hold(call.job.id, call.key_id, True))

    async def resume(call: Call) -> Response:
        assert call.job is not None
        return json_response(await center.rollouts.hold(call.job.id, call.key_id, False))

    async def approve(call: Call) -> Response:
        assert call.job is not None
        return json_response(await center.decide(call.job.id, call.key_id, True))

    async def reject(call: Call) -> Response:
        assert call.job is not None
        return json_response(await center.decide(call.job.id, call.key_id, False))

    async def create(call: Call) -> Response:
        req = await parse(call.request, AccountRequest)
        if req.approver:
            raise StarlingError(
                "approver accounts are made on the center host (`starling accounts create NAME --approver --local`), "
                "so no API key alone can mint a second person", code=ErrorCode.C009,
            )
        key_id, secret = await store.call(create_account, store.sync, secret_box, req.name, req.scopes, admin=req.admin, created_by=call.key_id)
        audit(call.key_id, "account.create", key_id, {"name": req.name, "scopes": msgspec.to_builtins(req.scopes), "admin": req.admin})
        return json_response({"key_id": key_id, "secret": secret, "name": req.name}, 201)

    async def accounts(call: Call) -> Response:
        return json_response({"accounts": await store.call(list_accounts, store.sync)})

    def _not_self(call: Call, key_id: str, what: str) -> None:
        if key_id == call.key_id:
            raise StarlingError(f"an account cannot {what} itself", code=ErrorCode.C001)

    async def delete(call: Call) -> Response:
        key_id = call.path("key")
        _not_self(call, key_id, "delete")
        if not await store.call(delete_account, store.sync, key_id):
            raise StarlingError(f"no account {key_id}", code=ErrorCode.C002)
        audit(call.key_id, "account.delete", key_id, {})
        return json_response({"key_id": key_id, "deleted": True})

    async def _switch(call: Call, disabled: bool) -> Response:
        key_id = call.path("key")
        if disabled:
            _not_self(call, key_id, "disable")
        if not await store.call(set_disabled, store.sync, key_id, disabled):
            raise StarlingError(f"no account {key_id}", code=ErrorCode.C002)
        audit(call.key_id, "account.disable" if disabled else "account.enable", key_id, {})
        return json_response({"key_id": key_id, "disabled": disabled})

    async def disable(call: Call) -> Response:
        return await _switch(call, True)

    async def enable(call: Call) -> Response:
        return await _switch(call, False)

    async def rotate(call: Call) -> Response:
        key_id = call.path("key")
        secret = await store.call(rotate_secret, store.sync, secret_box, key_id)
        if secret is None:
            raise StarlingError(f"no account {key_id}", code=ErrorCode.C002)
        audit(call.key_id, "account.rotate", key_id, {})
        return json_response({"key_id": key_id, "secret": secret})

    async def mapping(call: Call) -> Response:
        from ._policy import make_mapping

        req = await parse(call.request, MappingRequest)
        key_id = call.path("key")
        table = await store.call(make_mapping, store.sync, key_id, req.commands)
        audit(call.key_id, "account.mapping", key_id, {"commands": len(table)})
        return json_response({"key_id": key_id, "mapping": table})

    async def audit_records(call: Call) -> Response:
        start = call.query["after"] + 1
        limit = call.query["limit"]

        def read() -> list[dict[str, Any]]:
            out = []
            for rec in trail.log.iter_records(start, batch=limit, subject=call.query["subject"]):
                out.append({"seq": rec.seq, "time": rec.time, "actor": rec.actor, "kind": rec.kind, "subject": rec.subject, "detail": rec.detail_value(), "hash": rec.hash, "key_id": rec.key_id})
                if len(out) >= limit:
                    break
            return out

        return json_response({"records": await store.call(read)})

    async def audit_verify(call: Call) -> Response:
        return json_response(await trail.report())

    # -- the web terminal (center._terminal) --------------------------------------------------------

    from ._config import ConsoleConfig
    from ._terminal import TerminalEndpoint
    from ._termline import LineGuard, make_line_checker
    from ._termrecord import SessionRecorder

    console_cfg = getattr(center, "console_config", None) or ConsoleConfig()
    tokens = TokenBook(console_cfg.terminal_token_ttl, console_cfg.terminal_token_max_ttl)
    check_line = make_line_checker(policy)

    def session_account(sid: str) -> str | None:
        s = console.session(sid)
        return s.key_id if s is not None else None

    terminal = TerminalEndpoint(
        center, console_cfg, session_account, tokens,
        lambda session: SessionRecorder(audit, session.account, str(session.stream_id), console_cfg.terminal_record_bytes),
        lambda session, cols, rows: LineGuard(check_line, cols, rows),
    )

    async def terminal_ws(call: Call) -> Response:
        return error_response(ErrorCode.C001, "this is the terminal's WebSocket: connect with an Upgrade (see docs/console.md)", status=426)

    async def terminal_token(call: Call) -> Response:
        assert call.account is not None
        req = await parse(call.request, TerminalTokenRequest)
        rows = await store.select_agents(hosts=[req.host])
        if not rows or not (call.account.admin or call.account.scope.allows_host(rows[0])):
            raise StarlingError(f"no host {req.host} that this account may see", code=ErrorCode.C002)
        host = rows[0]
        if not may_open(call.account, host):
            raise StarlingError(f"account {call.key_id} may not open a terminal on {req.host} (needs the exec.pty action)", code=ErrorCode.C009)
        token, expires = tokens.issue(call.key_id, host.id, req.ttl)
        audit(call.key_id, "terminal.token", host.id, {"expires_at": expires})
        return json_response({"token": token, "host": host.hostname or host.id, "host_id": host.id,
                              "account": call.key_id, "expires_at": expires}, 201)

    handlers: dict[str, Callable[[Call], Awaitable[Response]]] = {
        "health": health, "openapi": openapi_doc, "codes": codes, "register": register, "actions": actions,
        "hosts": hosts, "revoke_host": revoke_host, "restore_host": restore_host, "proxies": proxies,
        "revoke_proxy": revoke_proxy, "restore_proxy": restore_proxy, "submit": submit, "jobs": jobs, "job": job,
        "wait": wait, "events": events, "output": output, "cancel": cancel, "pause": pause, "resume": resume, "approve": approve, "reject": reject,
        "create_account": create, "accounts": accounts, "delete_account": delete, "disable_account": disable,
        "enable_account": enable, "rotate_account": rotate, "mapping": mapping, "audit": audit_records,
        "audit_verify": audit_verify, "terminal_ws": terminal_ws, "terminal_token": terminal_token,
        **file_handlers(center), **diag_handlers(center, audit), **console.handlers(),
    }
    routes: list[Any] = [WebSocketRoute("/api/v1/terminal/ws", terminal.serve)]
    routes += [Route(spec.path, endpoint(spec, handlers[spec.handler]), methods=[spec.method]) for spec in ROUTES]
    routes += ops_routes(center)  # /v1/ready, /metrics: probed often, so outside the audited table
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 in the catalogue's error JSON, with a correct ``Allow``."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allowed = sorted({s.method for s in ROUTES if _matches(s.path, request.url.path)})
        response = error_response(ErrorCode.C029, f"{request.method} is not allowed here; use {', '.join(allowed)}")
        response.headers["Allow"] = ", ".join(allowed)
        return response
    if exc.status_code == 404:
        return error_response(ErrorCode.C028, f"no route {request.url.path}")
    return error_response(ErrorCode.C001, exc.detail or "bad request", status=exc.status_code if 400 <= exc.status_code < 500 else 400)


def _matches(template: str, path: str) -> bool:
    a, b = template.strip("/").split("/"), path.strip("/").split("/")
    return len(a) == len(b) and all(x == y or x.startswith("{") for x, y in zip(a, b, strict=True))


def _credentials_secret(store: Any, box: SecretBox, key_id: str) -> bytes | None:
    """The enabled account's secret (blocking; run in a thread)."""
    return DbKeys(store, box).secret_for(key_id)
