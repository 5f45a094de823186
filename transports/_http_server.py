"""The server half of the HTTP long-poll carrier: h11 on trio sockets.

One ``serve()`` like the other carriers: it listens (TLS when given a
context), speaks just enough HTTP/1.1 for the protocol in ``_http_wire``,
holds the sessions, and drops those whose client stopped asking. Bad HTTP,
bad frames, slow or vanished clients end their own connection or session and
nothing else.
"""

from __future__ import annotations

import errno
import logging
import re
import secrets
import ssl
from functools import partial
from typing import Any
from urllib.parse import parse_qs

import h11
import msgspec
import trio

from ._base import Handler, run_handler
from ._codec import FrameReader
from ._errors import ConnectFailed, FrameTooLarge, TransportBroken
from ._guard import Admission, ConnGate, guarding, source_of
from ._http_session import HttpSession
from ._http_wire import BATCH_MAX, END, SEQ, Opened

log = logging.getLogger("starling.transports.http")

_MAX_HEAD = 16 * 1024
_FIRST_REQUEST = 30.0  # seconds a new connection may take to send its first request
_KEEPALIVE = 120.0  # seconds a connection may sit idle between requests
_BODY_CHUNK = 30.0  # seconds between two pieces of one request body
_HANDSHAKE = 15.0
_SESSION_PATH = re.compile(r"/s/([0-9a-f]{32})/(poll|send|close)")
_NET_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError, ssl.SSLError)


class _Timeout(Exception):
    pass


class _TooLarge(Exception):
    pass


class HttpServer:
    """Sessions and request handling for one ``serve()``.

    :param poll_timeout: seconds a poll is held open when there is nothing to send.
    :param session_timeout: seconds without any request before a session is
        dropped and its channel broken (the client vanished).
    :param max_sessions: sessions held at most; more opens get 503.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        prefix: str,
        max_frame: int,
        poll_timeout: float,
        session_timeout: float,
        max_sessions: int,
        gate: ConnGate | None = None,
    ) -> None:
        self.gate = gate
        self.handler = handler
        self.max_sessions = max_sessions
        self.prefix = prefix
        self.max_frame = max_frame
        self.poll_timeout = poll_timeout
        self.session_timeout = session_timeout
        self.body_limit = max(BATCH_MAX, max_frame + 4) + 4
        self.sessions: dict[str, HttpSession] = {}
        self.nursery: trio.Nursery

    async def serve(self, url_scheme: str, host: str, port: int, ssl_context: ssl.SSLContext | None, task_status: Any) -> None:
        try:
            listeners = await trio.open_tcp_listeners(port, host=host, backlog=4096)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConnectFailed(f"address in use: {url_scheme}://{host}:{port}") from exc
            raise ConnectFailed(f"cannot listen on {url_scheme}://{host}:{port}: {exc}") from exc
        bound = listeners[0].socket.getsockname()
        bhost = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            nursery.start_soon(self._reap)
            task_status.started(f"{url_scheme}://{bhost}:{bound[1]}{self.prefix}")
            await trio.serve_listeners(partial(self._connection, ssl_context=ssl_context), listeners)

    async def _reap(self) -> None:
        """Drop the sessions nobody asked about for ``session_timeout``."""
        while True:
            await trio.sleep(min(1.0, self.session_timeout / 4))
            now = trio.current_time()
            for sid, session in list(self.sessions.items()):
                if session.active == 0 and now - session.last_seen > self.session_timeout:
                    session.expire(self.session_timeout)
                    del self.sessions[sid]

    def _dropped(self, session: HttpSession) -> None:
        self.sessions.pop(session.sid, None)

    # --- one TCP connection ---------------------------------------------------------

    async def _connection(self, tcp: trio.SocketStream, *, ssl_context: ssl.SSLContext | None) -> None:
        try:
            addr = tcp.socket.getpeername()
            peer = f"{addr[0]}:{addr[1]}"
        except OSError:
            peer = "?"
        stream: trio.abc.Stream = tcp
        try:
            if ssl_context is not None:
                with trio.fail_after(_HANDSHAKE):
                    # No TLS state for a client that sends nothing (half-open crowds).
                    await trio.lowlevel.wait_readable(tcp.socket)
                    tls = trio.SSLStream(tcp, ssl_context, server_side=True, https_compatible=True)
                    await tls.do_handshake()
                stream = tls
            await self._requests(stream, peer)
        except (*_NET_ERRORS, trio.TooSlowError, _Timeout):
            pass
        except Exception:  # one connection's bug must not stop the server
            log.exception("HTTP connection from %s failed", peer)
        finally:
            await trio.aclose_forcefully(stream)

    async def _requests(self, stream: trio.abc.Stream, peer: str) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD)
        patience = _FIRST_REQUEST
        while True:
            try:
                event = await _next_event(conn, stream, patience)
                if not isinstance(event, h11.Request):
                    return  # the client closed between requests
                keep = await self._dispatch(conn, stream, event, peer)
            except h11.RemoteProtocolError as exc:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await _respond(conn, stream, exc.error_status_hint, b"bad request\n", close=True)
                return
            except _TooLarge:
                await _respond(conn, stream, 413, b"request too large\n", close=True)
                return
            if not keep or conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()
            patience = _KEEPALIVE

    async def _dispatch(self, conn: h11.Connection, stream: trio.abc.Stream, req: h11.Request, peer: str) -> bool:
        """Answer one request; False when the connection must close."""
        target = req.target.decode("latin-1")
        path, _, query = target.partition("?")
        method = req.method.decode("latin-1")
        length = _content_length(req)
        if length > (self.body_limit if path.endswith("/send") else 4096):
            raise _TooLarge  # refused before a byte of the body is read
        if not path.startswith(self.prefix + "/"):
            return await _refuse(conn, stream, 404, "not a Starling endpoint")
        rest = path[len(self.prefix) :]
        if rest == "/open":
            if method != "POST":
                return await _refuse(conn, stream, 405, "use POST")
            await _read_body(conn, stream, 4096)
            return await self._open(conn, stream, peer)
        match = _SESSION_PATH.fullmatch(rest)
        if match is None:
            return await _refuse(conn, stream, 404, "not a Starling endpoint")
        sid, what = match.groups()
        session = self.sessions.get(sid)
        if session is None:
            return await _refuse(conn, stream, 404, "unknown session")
        try:
            params = {k: int(v[-1]) for k, v in parse_qs(query).items() if k in ("ack", "room", "seq")}
        except ValueError:
            return await _refuse(conn, stream, 400, "bad parameters")
        session.active += 1
        try:
            if what == "poll" and method == "GET":
                return await self._poll(conn, stream, session, params.get("ack", 0), params.get("room", 1) != 0)
            if what == "send" and method == "POST":
                return await self._send(conn, stream, session, params.get("seq", 0), req)
            if what == "close" and method == "POST":
                await _read_body(conn, stream, 4096)
                session.client_closed()
                await _respond(conn, stream, 204)
                return True
            return await _refuse(conn, stream, 405, "wrong method")
        finally:
            session.active -= 1
            session.last_seen = trio.current_time()

    async def _open(self, conn: h11.Connection, stream: trio.abc.Stream, peer: str) -> bool:
        if len(self.sessions) >= self.max_sessions:
            log.warning("HTTP long-poll server full (%d sessions); refusing %s", len(self.sessions), peer)
            return await _refuse(conn, stream, 503, "too many sessions")
        admission = self.gate.admit(source_of(peer)) if self.gate is not None else None
        if self.gate is not None and admission is None:
            return await _refuse(conn, stream, 503, "too many connections")
        sid = secrets.token_hex(16)
        session = HttpSession(sid, peer, self.max_frame, self._dropped)
        if admission is not None:
            session.start_preauth(admission)
        self.sessions[sid] = session
        self.nursery.start_soon(self._run_session, session, admission)
        body = msgspec.json.encode(Opened(session=sid, poll=self.poll_timeout, expiry=self.session_timeout))
        await _respond(conn, stream, 200, body, [("content-type", "application/json")])
        return True

    async def _run_session(self, session: HttpSession, admission: Admission | None) -> None:
        with guarding(admission, session.peer):
            await run_handler(self.handler, session)

    async def _poll(self, conn: h11.Connection, stream: trio.abc.Stream, session: HttpSession, ack: int, room: bool) -> bool:
        event = await _next_event(conn, stream, _BODY_CHUNK)
        if not isinstance(event, h11.EndOfMessage):
            return await _refuse(conn, stream, 400, "a poll has no body")
        gone = False
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                # Notice a client that hangs up while its poll waits.
                nonlocal gone
                try:
                    data = await stream.receive_some(65536)
                except _NET_ERRORS:
                    data = b""
                if data:
                    conn.receive_data(bytes(data))  # a pipelined request: keep it for later
                else:
                    gone = True
                    nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            answer = await session.answer_poll(ack, room, self.poll_timeout)
            nursery.cancel_scope.cancel()
        if gone:
            return False  # the answer stays in flight and is sent to the next poll
        seq, body, end = answer
        headers = [(SEQ, str(seq)), ("content-type", "application/octet-stream")]
        if end is not None:
            headers.append((END, end))
        await _respond(conn, stream, 200, body, headers)
        return True

    async def _send(self, conn: h11.Connection, stream: trio.abc.Stream, session: HttpSession, seq: int, req: h11.Request) -> bool:
        if not session.accepts_input:
            return await _refuse(conn, stream, 410, "session ended")
        async with session.send_lock:
            if seq <= session.applied_seq:  # a retry of a batch we already have
                await _read_body(conn, stream, self.body_limit)
                await _respond(conn, stream, 204)
                return True
            if seq != session.applied_seq + 1:
                session.fail(TransportBroken(f"{session.peer} skipped batch {session.applied_seq + 1}"))
                self._dropped(session)
                return await _refuse(conn, stream, 409, "batch out of order")
            length = _content_length(req)
            reader = FrameReader(session.receive_limit)
            # Before login a batch holds little more than one small hello.
            limit = self.body_limit if session.receive_limit >= self.max_frame else session.receive_limit + 4096
            bodies: list[bytes] = []
            size = 0
            try:
                async for chunk in _body_chunks(conn, stream, limit):
                    bodies.extend(reader.feed(chunk))
            except FrameTooLarge as exc:
                session.fail(exc)
                self._dropped(session)
                return await _refuse(conn, stream, 413, str(exc))
            except _TooLarge:
                if limit < self.body_limit:  # before login: the session ends with the request
                    session.fail(FrameTooLarge(f"{session.peer} sent a {length}-byte batch before login (max {limit})"))
                    self._dropped(session)
                raise
            if reader.pending:
                session.fail(TransportBroken(f"{session.peer} sent a batch that ends inside a frame"))
                self._dropped(session)
                await _respond(conn, stream, 400, b"batch ends inside a frame\n")
                return True
            size = sum(map(len, bodies))
            if not await session.deliver(bodies, size):
                return await _refuse(conn, stream, 410, "session ended")
            session.applied_seq = seq
        await _respond(conn, stream, 204)
        return True


# --- HTTP plumbing -------------------------------------------------------------------


async def _next_event(conn: h11.Connection, stream: trio.abc.Stream, patience: float) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        with trio.move_on_after(patience) as scope:
            data = await stream.receive_some(65536)
        if scope.cancelled_caught:
            raise _Timeout
        conn.receive_data(bytes(data))


def _content_length(req: h11.Request) -> int:
    for name, value in req.headers:
        if name == b"content-length":
            return int(value)  # h11 has validated it
    return 0


async def _body_chunks(conn: h11.Connection, stream: trio.abc.Stream, limit: int) -> Any:
    total = 0
    while True:
        event = await _next_event(conn, stream, _BODY_CHUNK)
        if isinstance(event, h11.Data):
            total += len(event.data)
            if total > limit:
                raise _TooLarge
            yield bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            return
        else:
            raise h11.RemoteProtocolError("unexpected event in a request body")


async def _read_body(conn: h11.Connection, stream: trio.abc.Stream, limit: int) -> bytes:
    return b"".join([chunk async for chunk in _body_chunks(conn, stream, limit)])


async def _respond(
    conn: h11.Connection,
    stream: trio.abc.Stream,
    status: int,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    *,
    close: bool = False,
) -> None:
    hdrs = [("content-length", str(len(body))), ("cache-control", "no-store"), *(headers or [])]
    if close:
        hdrs.append(("connection", "close"))
    data = conn.send(h11.Response(status_code=status, headers=hdrs)) or b""
    if body:
        data += conn.send(h11.Data(data=body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    await stream.send_all(data)


async def _refuse(conn: h11.Connection, stream: trio.abc.Stream, status: int, why: str) -> bool:
    """Answer an error and close: the request body, if any, is left unread."""
    await _respond(conn, stream, status, why.encode() + b"\n", close=True)
    return False


__all__ = ["HttpServer"]
