"""HTTP plumbing shared by the API handlers: JSON bodies, errors with codes."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from transports import ErrorCode, StarlingError

T = TypeVar("T")

MAX_BODY = 8 * 1024 * 1024

def json_response(data: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(data), status_code=status, media_type="application/json")


def error_response(code: ErrorCode, message: str = "", status: int | None = None, **extra: Any) -> Response:
    body = {"error": {"code": code.value, "meaning": code.meaning, "message": message or code.meaning, "hint": code.hint, **extra}}
    return json_response(body, status or code.http_status)


async def read_body(request: Request) -> bytes:
    cached = getattr(request.state, "body", None)
    if cached is not None:
        return bytes(cached)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise StarlingError(f"body of {declared} bytes exceeds {MAX_BODY}", code=ErrorCode.C018)
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > MAX_BODY:
            raise StarlingError(f"body exceeds {MAX_BODY} bytes", code=ErrorCode.C018)
    request.state.body = bytes(chunks)
    return bytes(chunks)


async def parse(request: Request, type_: type[T]) -> T:
    body = await read_body(request)
    try:
        return msgspec.json.decode(body or b"{}", type=type_)
    except msgspec.ValidationError as exc:
        raise StarlingError(f"invalid request: {exc}", code=ErrorCode.C001) from exc
    except msgspec.DecodeError as exc:
        raise StarlingError(f"request body is not valid JSON: {exc}", code=ErrorCode.C001) from exc
    except RecursionError:
        raise StarlingError("request body is nested too deeply", code=ErrorCode.C001) from None


def int_arg(request: HTTPConnection, name: str, default: int, lo: int = 0, hi: int = 1_000_000) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise StarlingError(f"query parameter {name} must be an integer", code=ErrorCode.C001) from None
    if not lo <= value <= hi:
        raise StarlingError(f"query parameter {name} must be within [{lo}, {hi}]", code=ErrorCode.C001)
    return value
