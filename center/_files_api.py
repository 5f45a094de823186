"""The file channel's HTTP routes: upload chunks (resumable), submit a push
from a manifest, collect files from hosts, download chunks.

    POST /v1/files/missing            {"hashes": [...]} -> {"missing": [...]}
    PUT  /v1/files/chunks/{sha256}    raw bytes (at most 8 MiB) -> {"hash", "size", "new"}
    GET  /v1/files/chunks/{sha256}    raw bytes
    POST /v1/files/push               manifest + destination + targets -> the job (file.install)
    POST /v1/files/collect            path + size cap + targets -> the job (file.collect)

A push is refused (C031) unless the center holds every chunk its manifest
names, so agents never wait for a chunk nobody uploaded; the manifest travels
in the job's params and is covered by the job's signature.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import msgspec
from starlette.responses import Response

from transports import ErrorCode, StarlingError

from ._center import Center
from ._files import MAX_CHUNK, CenterFiles
from ._http import json_response, parse, read_body
from ._requests import JobRequest, Rollout, Selector


class MissingRequest(msgspec.Struct, forbid_unknown_fields=True):
    hashes: Annotated[list[str], msgspec.Meta(max_length=1_000_000)]


class _Targets(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    hosts: list[str] = []
    tags: list[str] = []
    idc: str = ""
    all: bool = False
    timeout: float = 600.0
    offline: Literal["fail", "wait"] = "fail"
    #: As in ``POST /v1/jobs``: target refinements and rollout controls.
    select: Selector | None = None
    rollout: Rollout | None = None


class PushRequest(_Targets, forbid_unknown_fields=True, kw_only=True):
    """``file.install`` params (see the action) plus the targets."""

    dest: str
    files: Annotated[list[dict[str, Any]], msgspec.Meta(min_length=1, max_length=100_000)]
    chunk_size: int = 4 * 1024 * 1024
    mode: str | None = None
    owner: str | None = None
    group: str | None = None
    dry_run: bool = False


class CollectRequest(_Targets, forbid_unknown_fields=True, kw_only=True):
    path: str
    max_bytes: int = 1 << 30


def file_handlers(center: Center) -> dict[str, Callable[[Any], Awaitable[Response]]]:
    """The handlers, by the names :data:`center._authz.ROUTES` gives them (each takes the API's ``Call``)."""

    def files() -> CenterFiles:
        if center.files is None:
            raise StarlingError("this center has no file store", code=ErrorCode.C016)
        assert isinstance(center.files, CenterFiles)
        return center.files

    async def files_missing(call: Any) -> Response:
        req = await parse(call.request, MissingRequest)
        return json_response({"missing": await files().missing(req.hashes)})

    async def files_put(call: Any) -> Response:
        digest = call.path("digest")
        data = await read_body(call.request)
        if len(data) > MAX_CHUNK:
            raise StarlingError(f"chunk of {len(data)} bytes exceeds {MAX_CHUNK}", code=ErrorCode.C018)
        new = await files().put(digest, data)
        return json_response({"hash": digest, "size": len(data), "new": new}, 201 if new else 200)

    async def files_get(call: Any) -> Response:
        data = await files().read(call.path("digest"))
        return Response(data, media_type="application/octet-stream")

    def _job(req: _Targets, action: str, params: dict[str, Any]) -> JobRequest:
        return JobRequest(
            action=action, params=params, hosts=req.hosts, tags=req.tags, idc=req.idc, all=req.all,
            timeout=req.timeout, offline=req.offline, select=req.select, rollout=req.rollout,
        )

    def _answer(answer: dict[str, Any]) -> Response:
        return json_response(answer, 202 if answer.get("state") == "pending_approval" else 201)

    async def files_push(call: Any) -> Response:
        req = await parse(call.request, PushRequest)
        store = files()
        chunks: list[str] = []
        for f in req.files:
            size = f.get("size", 0)
            if isinstance(size, int) and size > store.max_file_bytes:
                raise StarlingError(f"{f.get('path')}: {size} bytes is above the limit of {store.max_file_bytes}", code=ErrorCode.C032)
            chunks += [c for c in f.get("chunks", []) if isinstance(c, str)]
        # A dry run fetches nothing, so it needs no uploaded chunks.
        absent = [] if req.dry_run else await store.missing(chunks)
        if absent:
            raise StarlingError(
                f"{len(absent)} chunk(s) not uploaded yet, e.g. {absent[0]}: PUT them to /v1/files/chunks/{{sha256}}",
                code=ErrorCode.C031,
            )
        params: dict[str, Any] = {"dest": req.dest, "files": req.files, "chunk_size": req.chunk_size, "dry_run": req.dry_run}
        params |= {k: v for k, v in (("mode", req.mode), ("owner", req.owner), ("group", req.group)) if v is not None}
        return _answer(await center.submit(_job(req, "file.install", params), call.key_id))

    async def files_collect(call: Any) -> Response:
        req = await parse(call.request, CollectRequest)
        cap = min(req.max_bytes, files().max_file_bytes)
        return _answer(await center.submit(_job(req, "file.collect", {"path": req.path, "max_bytes": cap}), call.key_id))

    return {"files_missing": files_missing, "files_put": files_put, "files_get": files_get,
            "files_push": files_push, "files_collect": files_collect}


#: Request bodies for the OpenAPI document.
FILE_REQUESTS: dict[str, type] = {"MissingRequest": MissingRequest, "PushRequest": PushRequest, "CollectRequest": CollectRequest}
