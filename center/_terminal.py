"""The web terminal's server side: a WebSocket per session, relayed to a PTY on a host.

``/api/v1/terminal/ws?host=HOST[&token=T][&cols=80&rows=24]`` (contract in
docs/console.md). A session is an ``exec.pty`` job on one host, submitted
through :meth:`Center.submit` like any other, so the whole policy applies. Its
params name a random ``stream_id``; the center sends ``stream_open`` to the
host's proxy first (the route), then the job. Frames::

    client -> center  {"type":"input","data":s} {"type":"resize","cols":n,"rows":n} {"type":"close"}
    center -> client  {"type":"ready",...} {"type":"output","data":s} {"type":"refused",...}
                      {"type":"error","code","message","hint"} (then close)
                      {"type":"exit","status","code","message"} (then close 1000)

Every keystroke passes :class:`center._termline.LineGuard` before it is sent
on: Enter is held until the line is checked against the high-risk rules.
Whole sessions are recorded in the audit log (:mod:`center._termrecord`).

Output is flow-controlled per session when the host's proxy and agent can
(``stream_credit``): the job grants the agent a window (``[console] terminal_window``), and
the session returns credit as its output is written to the browser, so a
session whose browser reads slowly (or whose screen emulation is behind) holds
at most the window anywhere, its program waits, and the sessions sharing its
links are not touched.
"""

from __future__ import annotations

import base64
import codecs
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import trio
from starlette.websockets import WebSocket, WebSocketDisconnect

from transports import (
    Channel,
    ErrorCode,
    StarlingError,
    StreamClose,
    StreamCredit,
    StreamData,
    StreamOpen,
    StreamResize,
    send_if_open,
)
from transports.streamauth import new_session_key, seal_session_key, stream_mac

from ._http import int_arg
from ._rows import HostRow
from ._streambatch import StreamBatcher
from ._termauth import ACTION, TerminalRefused, close_code_for, may_open

log = logging.getLogger("starling.terminal")

#: Bytes of agent output queued per session before it is ended (the client reads too slowly),
#: for an agent or proxy without flow control; with it, the window is the bound.
MAX_QUEUED_OUTPUT = 8 * 1024 * 1024
#: Output flow control: bytes an agent may send on a session before the center returns credit
#: (``[console] terminal_window``, this by default); credit goes back every quarter of it.
OUTPUT_WINDOW = 256 * 1024
#: The smallest window granted (a smaller one would mostly wait for credit).
MIN_WINDOW = 16 * 1024
#: Bytes of input queued per session towards its proxy before input is refused.
MAX_QUEUED_INPUT = 1024 * 1024
#: Output bytes in one ``output`` frame at most (what queued while the browser was written to is
#: joined up to it; one larger message is split).
MAX_OUTPUT_FRAME = 64 * 1024
#: The protocol extension the host's proxy must have for flow control (center.proxy._streams.FEATURES).
CREDIT_FEATURE = "stream_credit"
#: Seconds the agent has to start the shell after the job is submitted.
READY_TIMEOUT = 20.0
#: Largest text frame the client may send.
MAX_FRAME = 1024 * 1024
#: Codes with which an agent ends a session normally (an ``exit`` frame, not an ``error``).
EXIT_CODES = {"", ErrorCode.A023.value, ErrorCode.A024.value}


@dataclass
class Session:
    """One open terminal, as the center's relay sees it."""

    stream_id: int
    account: str
    host: HostRow
    link: Channel
    started: float = field(default_factory=time.time)
    job_id: str = ""
    queued: int = 0
    overrun: bool = False
    #: The link's batching writer (center._streambatch); None: send directly.
    writer: Any = None
    #: The session key sealed to the agent (transports._streamauth); None: input not MAC-ed.
    key: bytes | None = None
    down_seq: int = 0
    #: Output flow control: the window granted to the agent (0: none, an agent or proxy without it).
    window: int = 0
    #: Output written to the browser since credit was last returned.
    consumed: int = 0

    def __post_init__(self) -> None:
        self.inbox_send, self.inbox = trio.open_memory_channel[Any](10_000)

    def deliver(self, msg: Any) -> None:
        if self.overrun:
            return
        size = len(msg.data) if isinstance(msg, StreamData) else 0
        if self.queued + size > (self.window or MAX_QUEUED_OUTPUT):
            self.overrun = True
            why = "the agent sent past its window" if self.window else "the terminal's output outran the browser"
            msg = StreamClose(stream_id=self.stream_id, code=ErrorCode.A024.value, message=f"{why}; session closed")
        try:
            self.inbox_send.send_nowait(msg)
            self.queued += size
        except (trio.WouldBlock, trio.ClosedResourceError):
            self.overrun = True

    async def send_down(self, msg: Any) -> bool:
        if self.key is not None and not isinstance(msg, StreamOpen):
            self.down_seq += 1
            msg.seq = self.down_seq
            msg.mac = stream_mac(self.key, msg)
        if self.writer is None or isinstance(msg, StreamOpen):
            # The open goes before the job, in order. Shielded: this runs in the WebSocket's
            # task, and a write cancelled midway would break the link for every session on it.
            with trio.CancelScope(shield=True):
                return await send_if_open(self.link, msg)
        if isinstance(msg, StreamClose):
            self.writer.put_last(msg)
            return True
        return bool(self.writer.put(msg))

    async def taken(self, size: int) -> None:
        """``size`` bytes of output were written to the browser: return credit every quarter
        of the window (flow control; nothing without a window)."""
        if not self.window:
            return
        self.consumed += size
        if self.consumed >= self.window // 4:
            grant, self.consumed = self.consumed, 0
            await self.send_down(StreamCredit(stream_id=self.stream_id, grant=grant))


class TerminalHub:
    """The open terminal sessions of one center, by stream id, and one batching
    writer per proxy link for what they send down."""

    def __init__(self) -> None:
        self.sessions: dict[int, Session] = {}
        self._writers: dict[int, StreamBatcher] = {}

    def writer_for(self, link: Any) -> StreamBatcher | None:
        """The link's writer (started in the link's nursery on first use)."""
        writer = self._writers.get(id(link))
        if writer is None and link.nursery is not None:
            channel = link.channel
            writer = self._writers[id(link)] = StreamBatcher(lambda: channel, max_queued=MAX_QUEUED_OUTPUT, max_stream=MAX_QUEUED_INPUT)
            link.nursery.start_soon(writer.run)
        return writer

    def deliver(self, link: Any, msg: Any) -> None:
        """A ``stream_*`` message from a proxy link."""
        session = self.sessions.get(msg.stream_id)
        if session is not None and session.link is link.channel:
            session.deliver(msg)

    def link_gone(self, link: Any) -> None:
        writer = self._writers.pop(id(link), None)
        if writer is not None:
            writer.close()
        for session in list(self.sessions.values()):
            if session.link is link.channel:
                session.deliver(StreamClose(stream_id=session.stream_id, code=ErrorCode.P007.value, message="the center lost its link to the host's proxy"))

    def new_stream_id(self) -> int:
        while True:
            sid = secrets.randbits(62) + 1
            if sid not in self.sessions:
                return sid


def own_origin(ws: WebSocket) -> str:
    scheme = "https" if ws.url.scheme in ("wss", "https") else "http"
    return f"{scheme}://{ws.headers.get('host', '')}"


class TerminalEndpoint:
    """The WebSocket handler, bound to one center and its console.

    :param session_account: ``(cookie value) -> key_id | None`` (the console's sessions).
    """

    def __init__(self, center: Any, console_cfg: Any, session_account: Any, tokens: Any, recorder_factory: Any, guard_factory: Any) -> None:
        self.center = center
        self.cfg = console_cfg
        self.session_account = session_account
        self.tokens = tokens
        self.hub: TerminalHub = center.terminals
        self.make_recorder = recorder_factory
        self.make_guard = guard_factory

    # -- opening --------------------------------------------------------------------------------

    async def _host(self, ref: str) -> HostRow:
        if not ref or len(ref) > 255:
            raise TerminalRefused("give the host: ?host=HOST", code=ErrorCode.C001, close=4400)
        rows = await self.center.store.select_agents(hosts=[ref])
        if not rows:
            raise TerminalRefused(f"no registered host {ref!r}", code=ErrorCode.C002, close=4404)
        return rows[0]

    async def _account(self, ws: WebSocket, host: HostRow) -> tuple[Any, str]:
        from ._accounts import load_account

        origin = ws.headers.get("origin", "")
        token = ws.query_params.get("token")
        own = own_origin(ws)
        if token is not None:
            if origin != own and origin not in self.cfg.allowed_origins:
                raise TerminalRefused(f"origin {origin or '(none)'} may not embed a terminal", code=ErrorCode.C037, close=4403)
            key_id = self.tokens.redeem(token, host.id)
            via = "token"
        else:
            if origin != own:
                raise TerminalRefused(f"origin {origin or '(none)'} is not this console's; embed with a token", code=ErrorCode.C037, close=4403)
            key_id = self.session_account(ws.cookies.get("__Host-starling-session", ""))
            if key_id is None:
                raise TerminalRefused("log in to the console first (or open the terminal with a token)", code=ErrorCode.C007, close=4401)
            via = "cookie"
        store = self.center.store
        try:
            account = await store.call(load_account, store.sync, key_id)
        except StarlingError as exc:
            raise TerminalRefused(exc.message, code=ErrorCode.C007, close=4401) from exc
        if account.mapping:
            raise TerminalRefused("this account sends command aliases only; a terminal would take raw commands", code=ErrorCode.C014, close=4403)
        if not may_open(account, host):
            raise TerminalRefused(f"account {key_id} may not open a terminal on {host.hostname or host.id}", code=ErrorCode.C009, close=4403)
        return account, via

    async def serve(self, ws: WebSocket) -> None:
        await ws.accept()
        session: Session | None = None
        try:
            cols = int_arg(ws, "cols", 80, 2, 1000)
            rows = int_arg(ws, "rows", 24, 1, 1000)
            host = await self._host(ws.query_params.get("host", ""))
            account, via = await self._account(ws, host)
            session = await self._open(account, host, cols, rows, via, ws.headers.get("origin", ""))
            await self._relay(ws, session, cols, rows)
        except TerminalRefused as exc:
            await self._error(ws, exc.code, exc.message, exc.close, session)
        except StarlingError as exc:
            await self._error(ws, exc.code, exc.message, close_code_for(exc.code), session)
        except WebSocketDisconnect:
            if session is not None:
                with trio.CancelScope(shield=True):
                    await session.send_down(StreamClose(stream_id=session.stream_id, message="the browser went away"))
        except Exception:
            log.exception("terminal session failed")
            await self._error(ws, ErrorCode.C020, "internal error in the terminal relay", 1011, session)
        finally:
            if session is not None:
                self.hub.sessions.pop(session.stream_id, None)

    async def _error(self, ws: WebSocket, code: ErrorCode, message: str, close: int, session: Session | None) -> None:
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            if session is not None:
                await session.send_down(StreamClose(stream_id=session.stream_id, code=code.value, message=message))
            try:
                await ws.send_json({"type": "error", "code": code.value, "message": message, "hint": code.hint})
                await ws.close(close)
            except Exception:  # the client is already gone
                pass

    async def _open(self, account: Any, host: HostRow, cols: int, rows: int, via: str, origin: str) -> Session:
        from ._requests import JobRequest

        center = self.center
        link = center.links.get(host.proxy_id or "")
        if not host.online or link is None:
            code = ErrorCode.of(host.code or "E001", ErrorCode.E001)
            raise StarlingError(f"host {host.hostname or host.id} is not connected: {code.meaning}", code=code)
        session = Session(self.hub.new_stream_id(), account.key_id, host, link.channel, writer=self.hub.writer_for(link))
        self.hub.sessions[session.stream_id] = session
        await session.send_down(StreamOpen(stream_id=session.stream_id, kind="pty", agent_id=host.id))
        params: dict[str, Any] = {"stream_id": session.stream_id, "cols": cols, "rows": rows, "idle_timeout": self.cfg.terminal_idle_timeout}
        window = self.cfg.terminal_window
        if window and await self._flow_controlled(link, host):
            session.window = params["window"] = max(window, MIN_WINDOW)
        pub = _agent_key(host)
        if pub is not None:
            # Keystrokes are MAC-ed with a key only the agent can open: a proxy cannot inject any.
            session.key = new_session_key()
            params["input_key"] = base64.b64encode(seal_session_key(session.key, pub)).decode()
        req = JobRequest(action=ACTION, hosts=[host.id], stream=True, timeout=self.cfg.terminal_max_session, params=params)
        answer = await center.submit(req, account.key_id)
        session.job_id = answer["job_id"]
        if answer["state"] == "pending_approval":
            await center.cancel(session.job_id)
            raise StarlingError("a terminal on this host needs an approval, which a live session cannot wait for", code=ErrorCode.C011)
        center.audit.record(account.key_id, "terminal.open", str(session.stream_id), {
            "host": host.id, "hostname": host.hostname, "job": session.job_id, "via": via, "origin": origin,
            "input_auth": session.key is not None, "window": session.window,
        })
        await self._wait_ready(session)
        return session

    async def _flow_controlled(self, link: Any, host: HostRow) -> bool:
        """Whether the host's proxy relays ``stream_credit`` and its agent takes a ``window``
        (its declaration of ``exec.pty`` has the param): else the session runs without."""
        policy = self.center.policy
        if CREDIT_FEATURE not in link.features or policy is None or not host.catalogue:
            return False
        await self.center.learn_catalogues({host.catalogue})
        for _, decl in policy.book.declarations(ACTION, [host.catalogue]):
            return "window" in ((decl.params or {}).get("properties") or {})
        return False

    async def _wait_ready(self, session: Session) -> None:
        """Until the agent's ``stream_open``; the task's own failure or a close ends the wait with its code."""
        end = trio.current_time() + READY_TIMEOUT
        while trio.current_time() < end:
            with trio.move_on_after(1.0):
                msg = await session.inbox.receive()
                if isinstance(msg, StreamOpen):
                    return
                if isinstance(msg, StreamClose):
                    raise StarlingError(msg.message or "the host closed the terminal", code=ErrorCode.of(msg.code, ErrorCode.C020))
                continue
            for row in await self.center.store.job_tasks(session.job_id):
                if row.state in ("failed", "timed_out", "cancelled", "succeeded"):
                    code = ErrorCode.of(row.code or "C020", ErrorCode.C020)
                    raise StarlingError(row.message or code.meaning, code=code)
        raise StarlingError(f"the host did not start the terminal within {READY_TIMEOUT:g}s", code=ErrorCode.C005)

    # -- the session ----------------------------------------------------------------------------

    async def _relay(self, ws: WebSocket, session: Session, cols: int, rows: int) -> None:
        recorder = self.make_recorder(session)
        guard = self.make_guard(session, cols, rows)
        await ws.send_json({"type": "ready", "session": str(session.stream_id), "host": session.host.hostname or session.host.id})
        outcome: dict[str, Any] = {}
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._downstream, ws, session, guard, recorder, nursery.cancel_scope, outcome)
                await self._upstream(ws, session, guard, recorder, outcome)
                nursery.cancel_scope.cancel()
        finally:
            recorder.close(outcome)
        if "error" in outcome:
            code, message, close = outcome["error"]
            raise TerminalRefused(message, code=code, close=close)
        if outcome.get("gone"):
            return
        await ws.send_json({"type": "exit", **outcome.get("exit", {"status": None, "code": None, "message": "closed"})})
        await ws.close(1000)

    async def _upstream(self, ws: WebSocket, session: Session, guard: Any, recorder: Any, outcome: dict[str, Any]) -> None:
        """Agent -> browser, until the stream closes."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        async for msg in session.inbox:
            while isinstance(msg, StreamData):
                data, msg = _burst(session, msg)
                session.queued -= len(data)
                # At most MAX_OUTPUT_FRAME bytes a frame, however much one message carried (a
                # proxy merges what queued for a stream, up to a whole window): JSON writes a
                # control byte as 6, and a client may cap its message size (1 MiB is common).
                recorder.output(data)
                for piece in _pieces(data):
                    text = decoder.decode(piece)
                    await guard.output(text)
                    if text:
                        await ws.send_json({"type": "output", "data": text})
                await session.taken(len(data))
            if isinstance(msg, StreamClose):
                tail = decoder.decode(b"", final=True)
                if tail:
                    await ws.send_json({"type": "output", "data": tail})
                if msg.code in EXIT_CODES:
                    outcome["exit"] = {"status": msg.status, "code": msg.code or None, "message": msg.message}
                else:
                    outcome["error"] = (ErrorCode.of(msg.code, ErrorCode.C020), msg.message, 1011)
                return

    async def _downstream(self, ws: WebSocket, session: Session, guard: Any, recorder: Any, scope: trio.CancelScope, outcome: dict[str, Any]) -> None:
        """Browser -> agent, through the line guard."""
        sid = session.stream_id
        try:
            while True:
                raw = await ws.receive_text()
                try:
                    parsed = json.loads(raw) if len(raw) <= MAX_FRAME else None
                except ValueError:
                    parsed = None
                frame: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
                kind = frame.get("type")
                if kind == "input" and isinstance(frame.get("data"), str):
                    data: str = frame["data"]
                    if len(data.encode()) > self.cfg.terminal_max_input:
                        await ws.send_json({"type": "refused", "line": data[:200], "code": ErrorCode.A024.value, "rule": "max_input",
                                            "message": f"input of {len(data.encode())} bytes refused: a terminal takes at most {self.cfg.terminal_max_input} at once",
                                            "hint": ErrorCode.A024.hint})
                        recorder.refused(data[:200], ErrorCode.A024.value, "max_input")
                        continue
                    async def send(chunk: bytes) -> None:
                        recorder.input(chunk)
                        if not await session.send_down(StreamData(stream_id=sid, data=chunk)):
                            # Never dropped silently: past its bound towards the proxy the session ends.
                            if session.writer is None or session.writer.closed:
                                raise StarlingError("the center lost its link to the host's proxy", code=ErrorCode.P007)
                            raise StarlingError("input outran the link to the host's proxy; the terminal was closed", code=ErrorCode.A024)

                    for refusal in await guard.feed(data, send):
                        recorder.refused(refusal["line"], refusal["code"], refusal["rule"])
                        await ws.send_json({"type": "refused", **refusal})
                elif kind == "resize" and _dims(frame):
                    guard.resize(frame["cols"], frame["rows"])
                    await session.send_down(StreamResize(stream_id=sid, cols=frame["cols"], rows=frame["rows"]))
                elif kind == "close":
                    await session.send_down(StreamClose(stream_id=sid, message="closed by the user"))
                    outcome["exit"] = {"status": None, "code": None, "message": "closed by the user"}
                    scope.cancel()
                    return
                else:
                    await session.send_down(StreamClose(stream_id=sid, code=ErrorCode.C001.value, message="malformed frame from the browser"))
                    outcome["error"] = (ErrorCode.C001, f"unknown or malformed frame {raw[:80]!r}; see docs/console.md", 4400)
                    scope.cancel()
                    return
        except WebSocketDisconnect:
            with trio.CancelScope(shield=True):
                await session.send_down(StreamClose(stream_id=sid, message="the browser went away"))
            outcome["exit"] = {"status": None, "code": None, "message": "the browser went away"}
            outcome["gone"] = True
            scope.cancel()


def _pieces(data: bytes) -> list[bytes]:
    """``data`` in slices of :data:`MAX_OUTPUT_FRAME` bytes (one slice when it fits)."""
    if len(data) <= MAX_OUTPUT_FRAME:
        return [data]
    return [data[i : i + MAX_OUTPUT_FRAME] for i in range(0, len(data), MAX_OUTPUT_FRAME)]


def _burst(session: Session, first: StreamData) -> tuple[bytes, Any]:
    """``first`` and the output queued right behind it, joined (until :data:`MAX_OUTPUT_FRAME`
    bytes are reached), so a burst is one WebSocket send (one TLS record and system call), not
    one per agent message; and the message that ended the burst (None: nothing else was queued)."""
    chunks, size = [first.data], len(first.data)
    while size < MAX_OUTPUT_FRAME:
        try:
            nxt = session.inbox.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            return b"".join(chunks), None
        if not isinstance(nxt, StreamData):
            return b"".join(chunks), nxt
        chunks.append(nxt.data)
        size += len(nxt.data)
    return b"".join(chunks), None


def _agent_key(host: HostRow) -> bytes | None:
    """The agent's Ed25519 public key from its registration, or None (an agent without one)."""
    try:
        raw = base64.b64decode(host.public_key, validate=True)
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


def _dims(frame: dict[str, Any]) -> bool:
    cols, rows = frame.get("cols"), frame.get("rows")
    return type(cols) is int and type(rows) is int and 2 <= cols <= 1000 and 1 <= rows <= 1000
