"""TCP carrier (``tcp://host:port``), TLS when given an SSL context."""

from __future__ import annotations

import errno
import ssl
from typing import Any

import trio

from ._base import Carrier, Channel, Handler, run_handler, split_host_port
from ._codec import DEFAULT_MAX_FRAME, FrameReader, decode, frame
from ._errors import (
    ChannelClosed,
    ClosedByYou,
    ConnectFailed,
    TransportBroken,
)
from ._messages import Message

_READ_SIZE = 65536


class TcpChannel(Channel):
    carrier = "tcp"

    def __init__(self, stream: trio.abc.Stream, peer: str, max_frame: int) -> None:
        self._stream = stream
        self.peer = peer
        self._max_frame = max_frame
        self._reader = FrameReader(max_frame)
        self._ready: list[bytes] = []
        self._send_lock = trio.Lock()
        self._closed = False

    async def send(self, msg: Message) -> None:
        data = frame(msg, self._max_frame)
        await self._send_bytes(data)

    async def send_raw(self, data: bytes) -> None:
        await self._send_bytes(data)

    async def _send_bytes(self, data: bytes) -> None:
        if self._closed:
            raise ClosedByYou("channel already closed")
        async with self._send_lock:
            try:
                await self._stream.send_all(data)
            except trio.ClosedResourceError as exc:
                raise ClosedByYou("channel already closed") from exc
            except (trio.BrokenResourceError, OSError, ssl.SSLError) as exc:
                raise TransportBroken(f"send to {self.peer} failed: {exc}") from exc

    async def receive(self) -> Message:
        while not self._ready:
            if self._closed:
                raise ClosedByYou("channel already closed")
            try:
                data = await self._stream.receive_some(_READ_SIZE)
            except trio.ClosedResourceError as exc:
                raise ClosedByYou("channel already closed") from exc
            except (trio.BrokenResourceError, OSError, ssl.SSLError) as exc:
                raise TransportBroken(f"receive from {self.peer} failed: {exc}") from exc
            if not data:
                if self._reader.pending:
                    raise TransportBroken(
                        f"{self.peer} closed inside a frame ({self._reader.pending} bytes held)"
                    )
                raise ChannelClosed(f"{self.peer} closed the channel")
            self._ready.extend(self._reader.feed(data))
        return decode(self._ready.pop(0))

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with trio.CancelScope(shield=True), trio.move_on_after(2):
            try:
                await self._stream.aclose()
            except (trio.BrokenResourceError, OSError, ssl.SSLError, trio.ClosedResourceError):
                pass


def _tune(sock: Any) -> None:
    import socket

    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    except OSError:
        pass


class TcpCarrier(Carrier):
    schemes = ("tcp",)

    async def connect(
        self,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        server_hostname: str | None = None,
    ) -> Channel:
        host, port = split_host_port(url, 8471)
        try:
            tcp = await trio.open_tcp_stream(host, port)
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {url}: {exc}") from exc
        _tune(tcp.socket)
        stream: trio.abc.Stream = tcp
        if ssl_context is not None:
            tls = trio.SSLStream(tcp, ssl_context, server_hostname=server_hostname or host)
            try:
                await tls.do_handshake()
            except (trio.BrokenResourceError, ssl.SSLError, OSError) as exc:
                await trio.aclose_forcefully(tcp)
                raise ConnectFailed(f"TLS handshake with {url} failed: {exc}") from exc
            stream = tls
        return TcpChannel(stream, f"{host}:{port}", max_frame)

    async def serve(
        self,
        url: str,
        handler: Handler,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        task_status: Any = trio.TASK_STATUS_IGNORED,
    ) -> None:
        host, port = split_host_port(url, 8471)
        try:
            listeners = await trio.open_tcp_listeners(port, host=host, backlog=4096)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConnectFailed(f"address in use: {url}") from exc
            raise ConnectFailed(f"cannot listen on {url}: {exc}") from exc
        bound = listeners[0].socket.getsockname()
        task_status.started(f"tcp://{bound[0]}:{bound[1]}")

        async def on_stream(tcp: trio.SocketStream) -> None:
            _tune(tcp.socket)
            try:
                addr = tcp.socket.getpeername()
                peer = f"{addr[0]}:{addr[1]}"
            except OSError:
                peer = "?"
            stream: trio.abc.Stream = tcp
            if ssl_context is not None:
                tls = trio.SSLStream(tcp, ssl_context, server_side=True)
                try:
                    with trio.fail_after(15):
                        await tls.do_handshake()
                except (trio.BrokenResourceError, ssl.SSLError, OSError, trio.TooSlowError):
                    await trio.aclose_forcefully(tcp)
                    return
                stream = tls
            await run_handler(handler, TcpChannel(stream, peer, max_frame))

        await trio.serve_listeners(on_stream, listeners)
