"""The API's OpenAPI 3.1 description, generated from the route table
(:data:`center._authz.ROUTES`) and the request types the handlers decode, so it
cannot drift from what the center accepts and answers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from transports import ErrorCode

from ._authz import Query, Role, RouteSpec

SIGNED: list[dict[str, list[str]]] = [{"starlingHmac": []}]
_ERROR = {"$ref": "#/components/schemas/Error"}
_REASONS = {
    200: "OK", 201: "Created", 202: "Accepted: held for approval (C011)", 400: "Malformed request (C001 and others)",
    401: "Not authenticated (C007) or replayed (C008)", 403: "Not permitted (C009 and others)", 404: "Not found",
    405: "Method not allowed (C029); the Allow header lists the methods", 409: "Conflict with the current state",
    413: "Request too large (C018)", 500: "Internal error (C020)", 503: "Storage unavailable (C016)",
}


def _query_param(q: Query) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": q.kind}
    if q.minimum is not None:
        schema["minimum"] = q.minimum
    if q.maximum is not None:
        schema["maximum"] = q.maximum
    if q.enum:
        schema["enum"] = list(q.enum)
    elif q.kind == "string":  # what center._api._one enforces
        schema["maxLength"], schema["pattern"] = 1024, "^[^\\x00]*$"
    if q.default is not None:
        schema["default"] = q.default
    if q.many:
        schema = {"type": "array", "items": schema}
    out: dict[str, Any] = {"name": q.name, "in": "query", "required": False, "schema": schema}
    if q.many:
        out["style"], out["explode"] = "form", True
    if q.description:
        out["description"] = q.description
    return out


def _success(spec: RouteSpec) -> dict[str, Any]:
    content: dict[str, Any] = {}
    for media in spec.media.split("|"):
        if media == "application/json":
            content[media] = {"schema": {"type": "object"}}
        else:
            content[media] = {"schema": {"type": "string"}}
    return {"description": _REASONS.get(spec.status, "OK"), "content": content}


def _operation(spec: RouteSpec) -> dict[str, Any]:
    responses: dict[str, Any] = {str(spec.status): _success(spec)}
    errors = {400, 405, 500, *spec.errors}
    if spec.role >= Role.ACCOUNT:
        errors |= {401, 403, 503}
    if spec.body:
        errors |= {400, 413}
    for status in sorted(errors):
        if status == spec.status:
            continue
        if status == 202:
            responses["202"] = {"description": _REASONS[202], "content": {"application/json": {"schema": {"type": "object"}}}}
            continue
        resp: dict[str, Any] = {"description": _REASONS.get(status, "Error"), "content": {"application/json": {"schema": _ERROR}}}
        if status == 405:
            resp["headers"] = {"Allow": {"schema": {"type": "string"}, "description": "The methods this route takes"}}
        responses[str(status)] = resp
    op: dict[str, Any] = {"operationId": spec.handler, "summary": spec.summary, "responses": responses,
                          "x-starling-role": spec.role.name.lower()}
    if spec.guard.value != "none":
        op["x-starling-guard"] = spec.guard.value
    if spec.body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{spec.body}"}}}}
    if spec.role >= Role.ACCOUNT:
        op["security"] = SIGNED
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1, "maxLength": 128}}
              for n in re.findall(r"{(\w+)}", spec.path)]
    params += [_query_param(q) for q in spec.query]
    if params:
        op["parameters"] = params
    op.update(spec.extra)  # e.g. a raw (non-JSON) request body
    return op


def build_openapi(routes: Sequence[RouteSpec], types: dict[str, type]) -> dict[str, Any]:
    (_, components) = msgspec.json.schema_components(list(types.values()), ref_template="#/components/schemas/{name}")
    components["Error"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "enum": [c.value for c in ErrorCode]},
                    "meaning": {"type": "string"},
                    "message": {"type": "string"},
                    "hint": {"type": "string"},
                    "request_id": {"type": "string"},
                },
                "required": ["code", "meaning", "message", "hint"],
            }
        },
        "required": ["error"],
    }
    paths: dict[str, dict[str, Any]] = {}
    for spec in routes:
        if spec.websocket:
            continue  # OpenAPI 3 does not describe WebSockets: docs/console.md has the terminal's contract
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Starling center API", "version": "1",
                 "description": "Every request except health, codes, this document and registration is signed: see docs/security.md."},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "starlingHmac": {
                    "type": "apiKey", "in": "header", "name": "X-Starling-Signature",
                    "description": "HMAC-SHA256 over method, path, query, timestamp, nonce and body digest, with X-Starling-Key, X-Starling-Timestamp and X-Starling-Nonce.",
                }
            },
        },
    }
