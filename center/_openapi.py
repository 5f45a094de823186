"""The API's OpenAPI 3.1 description, built from the same msgspec types the
handlers decode (so it cannot drift from what the center accepts)."""

from __future__ import annotations

from typing import Any

import msgspec

from transports import ErrorCode

SIGNED: list[dict[str, list[str]]] = [{"starlingHmac": []}]


def _op(summary: str, *, body: str | None = None, signed: bool = True, params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
            "default": {"description": "An error with a catalogue code", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        },
    }
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}}
    if signed:
        op["security"] = SIGNED
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}}


def build_openapi(types: dict[str, type]) -> dict[str, Any]:
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
    job = [_path_param("job")]
    paths = {
        "/v1/health": {"get": _op("Liveness of this center", signed=False)},
        "/v1/codes": {"get": _op("The error-code catalogue", signed=False, params=[_query("format")])},
        "/v1/agents/register": {"post": _op("Enroll an agent (enrollment token)", body="RegisterRequest", signed=False)},
        "/v1/hosts": {"get": _op("List hosts with health and owner", params=[
            _query("online"), _query("idc"), _query("tag"), _query("host"), _query("limit", "integer"), _query("tags_all"), _query("tags_none"),
            _query("exclude"), _query("os"), _query("version"), _query("health"),
        ])},
        "/v1/hosts/{host}/revoke": {"post": _op("Revoke a host's credential", params=[_path_param("host")])},
        "/v1/proxies": {"get": _op("List proxies and their load")},
        "/v1/proxies/{proxy}/revoke": {"post": _op("Revoke a proxy (admin)", params=[_path_param("proxy")])},
        "/v1/jobs": {
            "post": _op("Submit a job: an action on a selection of hosts", body="JobRequest"),
            "get": _op("Recent jobs", params=[_query("limit", "integer")]),
        },
        "/v1/jobs/{job}": {"get": _op("A job with per-host results", params=[*job, _query("results"), _query("state"), _query("offset", "integer"), _query("limit", "integer")])},
        "/v1/jobs/{job}/wait": {"get": _op("Long-poll until the job completes or the timeout passes", params=[*job, _query("timeout", "integer")])},
        "/v1/jobs/{job}/events": {"get": _op("Server-sent progress events, ending with `done`", params=job)},
        "/v1/jobs/{job}/output": {"get": _op("Server-sent live output of a streaming job (`output` events, then `done`)", params=job)},
        "/v1/jobs/{job}/cancel": {"post": _op("Cancel a job: running tasks are killed", params=job)},
        "/v1/jobs/{job}/approve": {"post": _op("Approve a held job (a second account with the approver flag)", params=job)},
        "/v1/jobs/{job}/reject": {"post": _op("Reject a held job", params=job)},
        "/v1/accounts": {"post": _op("Create an account (admin)", body="AccountRequest"), "get": _op("List accounts (admin)")},
        "/v1/accounts/{key}/mapping": {"post": _op("Give an account private command aliases (admin)", body="MappingRequest", params=[_path_param("key")])},
        "/v1/audit": {"get": _op("Audit records (admin)", params=[_query("after", "integer"), _query("limit", "integer")])},
        "/v1/audit/verify": {"get": _op("Verify the audit hash chain (admin)")},
    }
    from ._api_diag import extra_paths

    paths |= extra_paths(_op, _path_param, _query)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Starling center API", "version": "1", "description": "Every request except health, codes and registration is signed: see docs/security.md."},
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
