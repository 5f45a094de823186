"""HTTP plumbing shared by the API handlers: JSON bodies, errors with codes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeVar

import msgspec
import trio
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from transports import ErrorCode, StarlingError

T = TypeVar("T")

MAX_BODY = 8 * 1024 * 1024
API_KEEP_ALIVE = 75.0  # seconds the API keeps an idle connection (clients let go sooner)
DRAIN_LIMIT = 64 * 1024  # unread request body a refusal still reads, to keep the connection
DRAIN_SECONDS = 5.0  # and how long it waits for it

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


def _declares_body(scope: Scope) -> int | None:
    """The request body's declared length: 0 for none, None when chunked."""
    length = 0
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding":
            return None
        if name == b"content-length" and value.isdigit():
            length = int(value)
    return length


def keep_alive_after_refusal(app: ASGIApp) -> ASGIApp:
    """Answer a request the app refused before reading its body without breaking the connection.

    A handler that refuses early (bad signature, missing CSRF header, unknown route) answers
    without reading the body. hypercorn then cannot start the connection's next request and
    closes it, silently: a keep-alive client (httpx, a browser) that sends its next request
    on it gets "server disconnected" instead of an answer. So before the answer goes out, the
    rest of a body up to :data:`DRAIN_LIMIT` is read and dropped (for at most
    :data:`DRAIN_SECONDS`); a larger one (an oversized upload refused with C018), or one that
    does not come, is not waited for, and the answer says ``Connection: close`` so the client
    opens a new connection instead of losing its next request (RFC 9112 §9.6)."""

    async def wrapped(scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]) -> None:
        declared = _declares_body(scope) if scope["type"] == "http" else 0
        if declared == 0:
            await app(scope, receive, send)
            return
        read = 0
        finished = False

        async def counted() -> Message:
            nonlocal read, finished
            message = await receive()
            read += len(message.get("body", b""))
            finished = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start" and not finished:
                if declared is None or declared - read <= DRAIN_LIMIT:
                    start = read
                    with trio.move_on_after(DRAIN_SECONDS):
                        while not finished and read - start <= DRAIN_LIMIT:
                            await counted()
                if not finished:
                    message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            await send(message)

        await app(scope, counted, answer)

    return wrapped

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
