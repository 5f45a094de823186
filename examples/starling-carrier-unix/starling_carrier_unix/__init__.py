"""A Starling carrier over unix domain sockets: ``unix:///path/to.sock``.

The example third-party carrier. Everything a stream carrier needs beyond
opening and accepting sockets (framing, the goodbye frame that tells a clean
close from a crash, error translation, ``abort``) comes from
:class:`transports.StreamChannel`.
"""

from __future__ import annotations

import os
import socket
import stat
import struct
from ssl import SSLContext
from typing import Any
from urllib.parse import urlsplit

import trio

from transports import (
    DEFAULT_MAX_FRAME,
    Carrier,
    Channel,
    ConnectFailed,
    StreamChannel,
    gate_for,
    guarding,
    run_handler,
)

__all__ = ["UnixCarrier", "UnixChannel"]

_SOCKET_MODE = 0o660


class UnixChannel(StreamChannel):
    carrier = "unix"


def socket_path(url: str) -> str:
    """The absolute socket path in ``unix:///path`` (or ``unix:/path``)."""
    parts = urlsplit(url)
    if parts.scheme != "unix" or parts.netloc or not parts.path.startswith("/"):
        raise ConnectFailed(f"not a unix socket URL (want unix:///absolute/path): {url}")
    return parts.path


def _peer_name(sock: Any) -> str:
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return "unix peer"
    pid, uid, _gid = struct.unpack("3i", creds)
    return f"pid {pid} uid {uid}"


def _refuse_tls(ssl_context: SSLContext | None) -> None:
    if ssl_context is not None:
        raise ConnectFailed("unix sockets carry no TLS: the socket file's mode is the access control")


class UnixCarrier(Carrier):
    """Opens and accepts channels on a unix domain socket."""

    schemes = ("unix",)

    async def connect(
        self,
        url: str,
        *,
        ssl_context: SSLContext | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> Channel:
        _refuse_tls(ssl_context)
        path = socket_path(url)
        try:
            stream = await trio.open_unix_socket(path)
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {url}: {exc}") from exc
        return UnixChannel(stream, path, max_frame)

    async def serve(
        self,
        url: str,
        handler: Any,
        *,
        ssl_context: SSLContext | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        limits: Any = None,
        task_status: Any = trio.TASK_STATUS_IGNORED,
    ) -> None:
        _refuse_tls(ssl_context)
        # Pre-login bounds (frame size, login deadline, caps) as every carrier
        # applies them; the "source" of a unix peer is its user id.
        gate = gate_for(limits, url)
        path = socket_path(url)
        await _clear_stale(path, url)
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            await sock.bind(path)
            os.chmod(path, _SOCKET_MODE)
            sock.listen(4096)
        except OSError as exc:
            sock.close()
            raise ConnectFailed(f"cannot listen on {url}: {exc}") from exc
        listener = trio.SocketListener(sock)

        async def on_stream(stream: trio.SocketStream) -> None:
            peer = _peer_name(stream.socket)
            admission = gate.admit(peer.rpartition(" uid ")[2] or peer) if gate is not None else None
            if gate is not None and admission is None:
                await trio.aclose_forcefully(stream)  # over a cap
                return
            with guarding(admission, peer):
                channel = UnixChannel(stream, peer, max_frame)
                if admission is not None:
                    channel.start_preauth(admission)
                await run_handler(handler, channel)

        try:
            task_status.started(f"unix://{path}")
            await trio.serve_listeners(on_stream, [listener])
        finally:
            with trio.CancelScope(shield=True):
                await listener.aclose()
            try:
                os.unlink(path)
            except OSError:
                pass


async def _clear_stale(path: str, url: str) -> None:
    """Remove a socket file left by a dead server; refuse a live one."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConnectFailed(f"cannot listen on {url}: {exc}") from exc
    if not stat.S_ISSOCK(mode):
        raise ConnectFailed(f"cannot listen on {url}: the path exists and is not a socket")
    try:
        probe = await trio.open_unix_socket(path)
    except OSError:
        os.unlink(path)  # nobody answers: stale
        return
    await probe.aclose()
    raise ConnectFailed(f"address in use: {url}")
