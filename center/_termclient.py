"""A Python client of the web terminal's WebSocket (tests, bench, scripts).

Needs ``trio-websocket`` (a test dependency)::

    cookie = console_cookie(api, key_id, secret, ca_file)
    async with open_terminal(api, "web-1", ca_file=ca, cookie=cookie) as term:
        await term.send_input("uname -a\\r")
        print(await term.read_until("GNU/Linux"))

The origin defaults to the center's own (what the console page sends); pass
``origin=`` to act as an embedding page, and ``token=`` instead of a cookie.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit

__all__ = ["TerminalClient", "console_cookie", "open_terminal"]


def console_cookie(api: str, key_id: str, secret: str, ca_file: str) -> str:
    """Log in to the console and return the ``Cookie`` header value of the session."""
    import httpx

    from transports import client_context

    with httpx.Client(base_url=api, verify=client_context(ca_file), timeout=30) as http:
        r = http.post("/ui/login", json={"key_id": key_id, "secret": secret})
        r.raise_for_status()
        return "; ".join(f"{k}={v}" for k, v in r.cookies.items())


class TerminalClient:
    """One open terminal: frames in, frames out; output text accumulates in :attr:`screen_text`."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ready: dict[str, Any] = {}
        self.output = ""
        self.frames: list[dict[str, Any]] = []
        self.final: dict[str, Any] | None = None
        self.close_code: int | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_message(json.dumps(frame))

    async def send_input(self, data: str) -> None:
        await self.send({"type": "input", "data": data})

    async def resize(self, cols: int, rows: int) -> None:
        await self.send({"type": "resize", "cols": cols, "rows": rows})

    async def close(self) -> None:
        await self.send({"type": "close"})

    async def receive(self) -> dict[str, Any] | None:
        """The next frame (recorded), or ``None`` once the center closed the socket."""
        from trio_websocket import ConnectionClosed

        try:
            raw = await self.ws.get_message()
        except ConnectionClosed as exc:
            self.close_code = exc.reason.code if exc.reason else None
            return None
        frame: dict[str, Any] = json.loads(raw)
        if frame.get("type") == "output":
            self.output += frame["data"]
        else:
            self.frames.append(frame)
            if frame.get("type") in ("exit", "error"):
                self.final = frame
        return frame

    async def read_until(self, text: str, *, after: int = 0) -> str:
        """Read frames until ``text`` appears in the output past offset ``after``; the output so far."""
        while text not in self.output[after:]:
            if await self.receive() is None:
                raise EOFError(f"terminal closed before {text!r} appeared (close code {self.close_code}, frames {self.frames[-3:]}); output: {self.output[-100:]!r}")
        return self.output

    async def wait_frame(self, kind: str) -> dict[str, Any]:
        """Read until a frame of ``kind`` arrives (it is returned)."""
        seen = len(self.frames)
        while True:
            for frame in self.frames[seen:]:
                if frame.get("type") == kind:
                    return frame
            seen = len(self.frames)
            if await self.receive() is None:
                raise EOFError(f"terminal closed before a {kind!r} frame; frames: {self.frames}")

    async def drain(self) -> None:
        """Read until the center closes the socket."""
        while await self.receive() is not None:
            pass


@asynccontextmanager
async def open_terminal(
    api: str, host: str, *, ca_file: str = "", cookie: str = "", token: str | None = None, origin: str | None = None,
    cols: int | None = None, rows: int | None = None, wait_ready: bool = True, extra_query: dict[str, str] | None = None,
    message_queue_size: int = 4096,
) -> AsyncIterator[TerminalClient]:
    """Open ``wss://…/api/v1/terminal/ws`` for ``host``; with ``wait_ready``, return after the
    ``ready`` frame (or the ``error`` that replaced it: then :attr:`TerminalClient.final` is set).
    ``message_queue_size``: frames read ahead of :meth:`TerminalClient.receive` (a small one
    makes a slow reader a slow browser: the socket is not read meanwhile)."""
    from trio_websocket import open_websocket_url

    from transports import client_context

    parts = urlsplit(api)
    query: dict[str, str] = {"host": host, **(extra_query or {})}
    if token is not None:
        query["token"] = token
    if cols is not None:
        query["cols"] = str(cols)
    if rows is not None:
        query["rows"] = str(rows)
    scheme = "wss" if parts.scheme == "https" else "ws"
    url = f"{scheme}://{parts.netloc}/api/v1/terminal/ws?{urlencode(query)}"
    headers = [(b"Origin", (origin if origin is not None else f"{parts.scheme}://{parts.netloc}").encode())]
    if cookie:
        headers.append((b"Cookie", cookie.encode()))
    ctx: ssl.SSLContext | None = client_context(ca_file or None) if scheme == "wss" else None
    async with open_websocket_url(url, ssl_context=ctx, extra_headers=headers, message_queue_size=message_queue_size) as ws:
        term = TerminalClient(ws)
        if wait_ready:
            frame = await term.receive()
            if frame is not None and frame.get("type") == "ready":
                term.ready = frame
        yield term
