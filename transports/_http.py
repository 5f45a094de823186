"""HTTP long-poll carrier (``http://host:port/prefix``, ``https://...``).

For hosts that reach their proxy only through HTTP: the client (httpx) opens
a session, keeps one long poll waiting for the server's messages, and POSTs
its own; both carry batches of ordinary frames (``_http_wire`` has the
protocol). httpx honours ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``, so an
``https://`` channel crosses a plain forward proxy as a CONNECT tunnel. The
server (``_http_server``) is h11 on trio sockets, one ``serve()`` like the
other carriers.

A client channel's poller and sender run in a trio system task the channel
owns (``connect`` returns a plain channel, as TCP's does); ``aclose`` and
``abort`` end it, and so does the session's end.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
import trio

from ._base import Carrier, Channel, Handler
from ._codec import DEFAULT_MAX_FRAME, FrameReader
from ._errors import (
    ChannelClosed,
    ConnectFailed,
    FrameTooLarge,
    ProtocolError,
    TransportBroken,
    TransportError,
)
from ._guard import ConnGate, ConnLimits, gate_for
from ._http_server import HttpServer
from ._http_wire import (
    END,
    END_BROKEN,
    END_CLOSED,
    HIGH_WATER,
    SEQ,
    Opened,
    QueuedChannel,
    session_path,
    take_batch,
)

log = logging.getLogger("starling.transports.http")

_CONNECT_TIMEOUT = 10.0


_default_ssl: ssl.SSLContext | None = None


def _system_trust() -> ssl.SSLContext:
    """One verifying context for every channel without its own: building one
    loads the whole CA store (tens of milliseconds)."""
    global _default_ssl
    if _default_ssl is None:
        _default_ssl = ssl.create_default_context()
    return _default_ssl


def _split(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, prefix)`` of an http(s) URL."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme not in ("http", "https"):
        raise ConnectFailed(f"not an http(s) URL: {url}")
    try:
        port = parts.port if parts.port is not None else (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise ConnectFailed(f"bad port in {url}") from exc
    return scheme, parts.hostname or "127.0.0.1", port, parts.path.rstrip("/")


class HttpChannel(QueuedChannel):
    """The client side of one long-poll session."""

    carrier = "http"

    def __init__(self, http: httpx.AsyncClient, prefix: str, opened: Opened, peer: str, max_frame: int, linger: float) -> None:
        super().__init__(max_frame)
        self._http = http
        self._sid = opened.session
        self._prefix = prefix
        self._poll_wait = opened.poll
        self._retry_for = max(1.0, min(15.0, opened.expiry / 2))
        self.peer = peer
        self._linger = linger
        # server -> client (the queues themselves are QueuedChannel's)
        self._poll_scope: trio.CancelScope | None = None  # a room=0 poll, cut short when room frees
        # client -> server
        self._idle_lot = trio.lowlevel.ParkingLot()
        self._sending = False
        # lifetime
        self._cancel = trio.CancelScope()
        self._done = trio.Event()

    def _path(self, what: str) -> str:
        return session_path(self._prefix, self._sid, what)

    # --- the Channel API (send and receive are QueuedChannel's) ----------------------

    def _taken(self) -> None:
        if self._poll_scope is not None and self._in_bytes < HIGH_WATER // 2:
            self._poll_scope.cancel()

    async def aclose(self) -> None:
        """Send what is queued, tell the server, and stop."""
        if self._closed:
            return
        self._closed = True
        self._wake_all()
        with trio.CancelScope(shield=True):
            with trio.move_on_after(self._linger):
                while (self._outbox or self._sending) and self._send_error is None:
                    await self._idle_lot.park()
                if self._send_error is None and not self._done.is_set():
                    try:
                        resp = await self._http.post(self._path("close"), timeout=self._linger)
                        if resp.status_code != 204:
                            log.debug("close of %s answered %s", self.peer, resp.status_code)
                    except httpx.HTTPError as exc:
                        log.debug("close of %s failed: %s", self.peer, exc)
            await self._stop()

    async def abort(self) -> None:
        """Vanish: stop polling and drop the connections, without a word."""
        if self._closed:
            return
        self._closed = True
        self._wake_all()
        with trio.CancelScope(shield=True):
            await self._stop()

    async def _stop(self) -> None:
        self._cancel.cancel()
        with trio.move_on_after(5):
            await self._done.wait()
        with trio.move_on_after(5):
            await self._http.aclose()

    def _wake_all(self) -> None:
        for lot in (self._recv_lot, self._out_lot, self._space_lot, self._idle_lot):
            lot.unpark_all()

    def _fail(self, *, end: TransportError | None = None, send: TransportError | None = None) -> None:
        if end is not None and self._end is None:
            self._end = end
        if send is not None and self._send_error is None:
            self._send_error = send
        self._wake_all()

    # --- the background task ------------------------------------------------------

    async def run(self) -> None:
        """Poll and send until the session ends; never raises (Cancelled aside)."""
        try:
            with self._cancel:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._poller)
                    nursery.start_soon(self._sender)
        except Exception as exc:
            log.exception("HTTP channel to %s failed", self.peer)
            broken = TransportBroken(f"HTTP channel error: {exc!r}")
            self._fail(end=broken, send=broken)
        finally:
            gone = TransportBroken(f"channel to {self.peer} stopped")
            self._fail(end=gone, send=gone)
            self._done.set()

    async def _request(self, method: str, what: str, *, params: dict[str, int], content: bytes = b"", read: float = 30.0) -> httpx.Response:
        """One request, repeated on network errors for a while (every request
        of the protocol is idempotent)."""
        deadline = trio.current_time() + self._retry_for
        delay = 0.05
        timeout = httpx.Timeout(_CONNECT_TIMEOUT, read=read)
        while True:
            try:
                return await self._http.request(method, self._path(what), params=params, content=content, timeout=timeout)
            except httpx.TransportError as exc:
                if trio.current_time() + delay >= deadline:
                    raise TransportBroken(f"{method} {what} to {self.peer} failed: {exc!r}") from exc
                log.debug("%s %s to %s failed (%r); retrying", method, what, self.peer, exc)
            except httpx.HTTPError as exc:
                raise TransportBroken(f"{method} {what} to {self.peer} failed: {exc!r}") from exc
            await trio.sleep(delay)
            delay = min(2 * delay, 1.0)

    async def _poller(self) -> None:
        ack = 0
        while True:
            room = self._in_bytes < HIGH_WATER
            with trio.CancelScope() as scope:
                self._poll_scope = None if room else scope
                try:
                    resp = await self._request("GET", "poll", params={"ack": ack, "room": int(room)}, read=self._poll_wait + 15)
                except TransportBroken as exc:
                    self._fail(end=exc, send=exc)
                    return
            self._poll_scope = None
            if scope.cancelled_caught:
                continue  # the reader caught up: ask again, with room
            if resp.status_code != 200:
                why = "session unknown (expired or aborted)" if resp.status_code == 404 else f"HTTP {resp.status_code}"
                broken = TransportBroken(f"{self.peer} ended the session: {why}")
                self._fail(end=broken, send=broken)
                return
            try:
                seq = int(resp.headers.get(SEQ, ""))
            except ValueError:
                self._fail(end=ProtocolError(f"{self.peer} answered a poll without a batch number"))
                return
            if seq > ack:
                reader = FrameReader(self._max_frame)
                try:
                    bodies = reader.feed(resp.content)
                except FrameTooLarge as exc:
                    self._fail(end=exc, send=TransportBroken("session dropped after a protocol error"))
                    return
                if reader.pending:
                    self._fail(end=TransportBroken(f"{self.peer} sent a batch that ends inside a frame"))
                    return
                self._inbound.extend(bodies)
                self._in_bytes += sum(map(len, bodies))
                self._recv_lot.unpark_all()
                ack = seq
            end = resp.headers.get(END)
            if end == END_CLOSED:
                closed = ChannelClosed(f"{self.peer} closed the channel")
                self._fail(end=closed, send=TransportBroken(f"{self.peer} closed the channel"))
                return
            if end == END_BROKEN:
                broken = TransportBroken(f"{self.peer} aborted the channel")
                self._fail(end=broken, send=broken)
                return

    async def _sender(self) -> None:
        seq = 0
        while True:
            while not self._outbox:
                self._idle_lot.unpark_all()
                await self._out_lot.park()
            body, size = take_batch(self._outbox)
            self._out_bytes -= size
            self._space_lot.unpark_all()
            seq += 1
            self._sending = True
            try:
                resp = await self._request("POST", "send", params={"seq": seq}, content=body)
            except TransportBroken as exc:
                self._fail(end=exc, send=exc)
                return
            finally:
                self._sending = False
                self._idle_lot.unpark_all()
            if resp.status_code == 204:
                continue
            if resp.status_code == 413:
                self._fail(
                    send=FrameTooLarge(f"{self.peer} refused a frame as too large"),
                    end=TransportBroken(f"{self.peer} dropped the session after a frame too large"),
                )
            elif resp.status_code == 400:
                broken = TransportBroken(f"{self.peer} refused a batch: {resp.text.strip()}")
                self._fail(send=broken, end=broken)
            else:
                why = "session unknown (expired or aborted)" if resp.status_code in (404, 410) else f"HTTP {resp.status_code}"
                self._fail(send=TransportBroken(f"{self.peer} refused our messages: {why}"))
            return


class HttpCarrier(Carrier):
    """HTTP long-poll, client and server.

    :param poll_timeout: (server) seconds a poll waits when there is nothing to send.
    :param session_timeout: (server) seconds without any request before a
        session counts as vanished and its channel is broken.
    :param linger: (client) seconds ``aclose`` waits to deliver what is queued.
    :param max_sessions: (server) sessions one server holds at most.
    """

    schemes = ("http", "https")

    def __init__(
        self,
        *,
        poll_timeout: float = 20.0,
        session_timeout: float = 45.0,
        linger: float = 5.0,
        max_sessions: int = 200_000,
    ) -> None:
        self.poll_timeout = poll_timeout
        self.session_timeout = session_timeout
        self.linger = linger
        self.max_sessions = max_sessions

    async def connect(
        self,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> Channel:
        """Open a session at ``url``. Proxies come from the environment
        (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``).

        :param ssl_context: trust for ``https://`` (default: the system store).
        """
        scheme, host, port, prefix = _split(url)
        base = f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"
        http = httpx.AsyncClient(
            base_url=base,
            verify=ssl_context if ssl_context is not None else _system_trust(),
            trust_env=True,
            http1=True,
            http2=False,
            timeout=httpx.Timeout(_CONNECT_TIMEOUT),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4, keepalive_expiry=60),
            headers={"user-agent": "starling-transport/1"},
        )
        ok = False
        try:
            try:
                resp = await http.post(f"{prefix}/open")
            except httpx.HTTPError as exc:
                raise ConnectFailed(f"cannot open a session at {url}: {exc!r}") from exc
            if resp.status_code != 200:
                raise ConnectFailed(f"{url} is not a Starling endpoint (HTTP {resp.status_code})")
            try:
                opened = msgspec.json.decode(resp.content, type=Opened)
            except msgspec.DecodeError as exc:
                raise ConnectFailed(f"{url} is not a Starling endpoint: {exc}") from exc
            channel = HttpChannel(http, prefix, opened, f"{host}:{port}", max_frame, self.linger)
            trio.lowlevel.spawn_system_task(channel.run, name=f"http-channel {url}")
            ok = True
            return channel
        finally:
            if not ok:
                with trio.CancelScope(shield=True):
                    await http.aclose()

    async def serve(
        self,
        url: str,
        handler: Handler,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        limits: ConnLimits | ConnGate | None = None,
        task_status: Any = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve long-poll sessions at ``url`` (its path is the prefix).

        :param ssl_context: required for ``https://``, refused for ``http://``.
        :param limits: pre-login bounds and session caps (see :class:`ConnLimits`);
            a session counts as a connection; or a shared :class:`ConnGate`.
        """
        scheme, host, port, prefix = _split(url)
        if (scheme == "https") != (ssl_context is not None):
            raise ConnectFailed(f"{scheme}:// needs {'an' if scheme == 'https' else 'no'} ssl_context")
        server = HttpServer(
            handler,
            prefix=prefix,
            max_frame=max_frame,
            poll_timeout=self.poll_timeout,
            session_timeout=self.session_timeout,
            max_sessions=self.max_sessions,
            gate=gate_for(limits, url),
        )
        await server.serve(scheme, host, port, ssl_context, task_status)


__all__ = ["HttpCarrier", "HttpChannel"]
