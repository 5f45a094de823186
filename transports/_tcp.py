"""TCP carrier (``tcp://host:port``), TLS when given an SSL context.

Framing, goodbye and error translation live in :class:`~transports._stream.StreamChannel`.
"""

from __future__ import annotations

import errno
import logging
import ssl
from typing import TYPE_CHECKING, Any

import trio

from ._base import Carrier, Channel, Handler, run_handler, split_host_port
from ._codec import DEFAULT_MAX_FRAME
from ._errors import ConnectFailed
from ._stream import StreamChannel
from ._tlsstream import TlsStream

if TYPE_CHECKING:
    from ._guard import ConnGate, ConnLimits

log = logging.getLogger("starling.transports")


def _ascii(host: str) -> str | bytes:
    """An ASCII host name as bytes, which getaddrinfo and ssl take as they are. Given
    a str, CPython runs it through the ``idna`` codec: the same bytes for an ASCII
    name, but encodings.idna and stringprep stay imported in the process for good
    (with configparser, an idle agent's 0.4 MB). A non-ASCII name stays str: trio encodes it
    (IDNA 2008) before resolving it."""
    return host.encode("ascii") if host.isascii() else host


class TcpChannel(StreamChannel):
    carrier = "tcp"


def _tune(sock: Any) -> None:
    import socket

    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    except OSError:
        pass


def _reset(sock: Any) -> None:
    """Make the coming close a reset: no FIN handshake, no TIME_WAIT kept."""
    import socket
    import struct

    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass


async def _reuse_port_listener(host: str, port: int) -> trio.SocketListener:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = trio.socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        await sock.bind((host, port))
        sock.listen(4096)
    except BaseException:
        sock.close()
        raise
    return trio.SocketListener(sock)


def _stdlib_listener(listener: trio.SocketListener) -> Any:
    """The listening socket of a trio listener, as a non-blocking stdlib socket."""
    import socket

    trio_sock = listener.socket
    sock = socket.socket(trio_sock.family, trio_sock.type, trio_sock.proto, fileno=trio_sock.detach())
    sock.setblocking(False)
    return sock


def reserve_port(host: str, port: int) -> Any:
    """A bound, non-listening ``SO_REUSEPORT`` socket holding ``host:port``
    (port 0: a free one) for listeners that join it with ``reuse_port``; it
    never accepts a connection itself. The caller closes it."""
    import socket

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


class TcpCarrier(Carrier):
    schemes = ("tcp",)

    async def connect(
        self,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        server_hostname: str | None = None,
        local_address: str | None = None,
    ) -> Channel:
        """:param local_address: the source address to bind (a simulated fleet
            spreads its connections over several 127.0.0.x sources)."""
        host, port = split_host_port(url, 8471)
        try:
            tcp = await trio.open_tcp_stream(_ascii(host), port, local_address=local_address)
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {url}: {exc}") from exc
        _tune(tcp.socket)
        stream: trio.abc.Stream = tcp
        if ssl_context is not None:
            tls = TlsStream.over(
                tcp, ssl_context, server_side=False, server_hostname=_ascii(server_hostname or host)
            )
            try:
                await tls.do_handshake()
            except (trio.BrokenResourceError, ssl.SSLError, OSError) as exc:
                tls.close_now()
                raise ConnectFailed(f"TLS handshake with {url} failed: {exc}") from exc
            except BaseException:
                tls.close_now()
                raise
            stream = tls
        return TcpChannel(stream, f"{host}:{port}", max_frame)

    async def serve(
        self,
        url: str,
        handler: Handler,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        limits: ConnLimits | ConnGate | None = None,
        reuse_port: bool = False,
        task_status: Any = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve ``url``; see :meth:`Carrier.serve`.

        :param reuse_port: share the port with other listeners of the same user
            (``SO_REUSEPORT``; the kernel spreads new connections over them): the
            worker processes of one proxy each serve the same URL this way.
        """
        # The pre-login bounds are a server's: a client (the agent) never loads them.
        from ._guard import gate_for, guarding, source_of

        host, port = split_host_port(url, 8471)
        gate = gate_for(limits, url)
        try:
            if reuse_port:
                trio_listeners = [await _reuse_port_listener(host, port)]
            else:
                trio_listeners = await trio.open_tcp_listeners(port, host=host, backlog=4096)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConnectFailed(f"address in use: {url}") from exc
            raise ConnectFailed(f"cannot listen on {url}: {exc}") from exc
        listeners = [_stdlib_listener(t) for t in trio_listeners]
        bound = listeners[0].getsockname()
        task_status.started(f"tcp://{bound[0]}:{bound[1]}")

        async def on_socket(sock: Any, peer: str) -> None:
            admission = gate.admit(source_of(peer)) if gate is not None else None
            if gate is not None and admission is None:
                _reset(sock)  # over a cap: close before spending anything on it
                sock.close()
                return
            _tune(sock)
            handed = False  # once the channel has it, run_handler closes it
            try:
                with guarding(admission, peer) as guard:
                    stream: trio.abc.Stream
                    if ssl_context is not None:
                        if admission is not None:
                            # Nothing is spent on TLS for a peer that sends nothing.
                            await trio.lowlevel.wait_readable(sock)
                        tls = TlsStream(sock, ssl_context, server_side=True)
                        handed = True  # the TLS stream owns the socket now
                        try:
                            with trio.fail_after(15):
                                await tls.do_handshake()
                        except (trio.BrokenResourceError, ssl.SSLError, OSError, trio.TooSlowError):
                            tls.close_now()
                            return
                        except BaseException:
                            tls.close_now()
                            raise
                        stream = tls
                    else:
                        stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
                        handed = True
                    channel = TcpChannel(stream, peer, max_frame)
                    if admission is not None:
                        channel.start_preauth(admission)
                    await run_handler(handler, channel)
                    if channel.parked:
                        guard.release_at_close(channel)
            finally:
                if not handed:
                    trio.lowlevel.notify_closing(sock)
                    sock.close()

        try:
            async with trio.open_nursery() as nursery:
                for listener in listeners:
                    nursery.start_soon(_accept_forever, listener, on_socket, nursery)
        finally:
            for listener in listeners:
                listener.close()


#: accept(2) errors that mean the process or the system is out of a resource: wait, retry.
_ACCEPT_CAPACITY = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
#: accept(2) errors about one connection that died in the backlog: skip it.
_ACCEPT_SKIP = {
    getattr(errno, name) for name in (
        "EPERM", "ECONNABORTED", "EPROTO", "ENETDOWN", "ENOPROTOOPT", "EHOSTDOWN", "ENONET",
        "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH", "ETIMEDOUT", "ECONNRESET",
    ) if hasattr(errno, name)
}
_CONNECTION_TASK = "transports.tcp.connection"  # one name for every connection's task (trio makes one per task otherwise)


async def _accept_forever(listener: Any, on_socket: Any, nursery: trio.Nursery) -> None:
    """Accept connections on the listening stdlib socket ``listener`` and run
    ``on_socket(sock, "host:port")`` for each in ``nursery``.

    Not ``trio.serve_listeners``: that wraps every connection in a
    ``SocketStream`` and a task frame the TLS carrier drops at once, and a
    connection's task then holds both (with ``getpeername``'s answer, which
    ``accept`` gives for free) for as long as it lives — about 0.7 KB of every
    idle agent in a proxy.
    """
    while True:
        try:
            sock, addr = listener.accept()
        except BlockingIOError:
            await trio.lowlevel.wait_readable(listener)
            continue
        except OSError as exc:
            if exc.errno in _ACCEPT_SKIP:
                continue
            if exc.errno not in _ACCEPT_CAPACITY:
                raise
            log.error("accept on %s: %s; retrying in 0.1 s", listener.getsockname(), exc)
            await trio.sleep(0.1)
            continue
        peer = f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else "?"
        nursery.start_soon(on_socket, sock, peer, name=_CONNECTION_TASK)
        await trio.lowlevel.checkpoint()  # a flood of connections must not starve the others
