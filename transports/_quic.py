"""QUIC carrier (``quic://host:port``): aioquic's sans-I/O connection on trio
UDP sockets, no asyncio, no threads.

* TLS 1.3 with ALPN ``starling/1``, from the same inputs as TCP+TLS (see
  ``_quic_tls``): ``ssl_context``, or ``cert_file``/``key_file`` (server) and
  ``ca_file`` (client).
* The control channel is stream 0, with the usual 4-byte length-prefixed
  frames; channels are :class:`~transports.MultiStreamChannel`, so terminal and
  file data get their own streams (``open_stream``/``accept_stream``).
* Keep-alive: a ping after a third of ``idle_timeout`` without traffic; a
  peer silent for ``idle_timeout`` is gone (:class:`TransportBroken`).
* A server is one UDP socket for every connection; datagrams are routed by
  connection id, so a client whose address changes (NAT rebinding, a new
  network) keeps its connection: aioquic validates the new path and moves to it.

A client connection's machinery (its socket reader and timers) runs in a trio
system task owned by the channel, because ``connect`` returns a plain channel,
as TCP's does (whose kernel does the same work). ``aclose``/``abort`` end it;
it also ends by itself when the connection dies.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
from typing import Any

import trio
from aioquic.buffer import Buffer
from aioquic.quic.connection import QuicConnection
from aioquic.quic.packet import (
    QuicPacketType,
    encode_quic_version_negotiation,
    pull_quic_header,
)

from ._base import Carrier, Channel, Handler, run_handler, split_host_port
from ._codec import DEFAULT_MAX_FRAME
from ._errors import ConnectFailed, TransportBroken
from ._guard import ConnGate, ConnLimits, gate_for, guarding
from ._quic_link import QuicLink
from ._quic_stream import QuicChannel
from ._quic_tls import client_configuration, server_configuration

log = logging.getLogger("starling.transports.quic")
# aioquic logs every handshake at INFO under "quic"; a proxy holding 100k
# connections would drown its log. Left alone if the application set a level.
if logging.getLogger("quic").level == logging.NOTSET:
    logging.getLogger("quic").setLevel(logging.WARNING)

DEFAULT_PORT = 8472
_MIN_INITIAL = 1200  # RFC 9000 14.1: a client's Initial datagram is at least this big
_RECV_SIZE = 65536


def _format_url(addr: Any) -> str:
    host = addr[0]
    return f"quic://[{host}]:{addr[1]}" if ":" in host else f"quic://{host}:{addr[1]}"


async def _resolve(host: str, port: int) -> tuple[int, Any]:
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise ConnectFailed(f"cannot resolve {host}: {exc}") from exc
    if not infos:
        raise ConnectFailed(f"cannot resolve {host}")
    family, _type, _proto, _canon, addr = infos[0]
    return family, addr


class QuicCarrier(Carrier):
    """Opens and accepts QUIC connections.

    :param idle_timeout: seconds without a packet before a peer counts as gone;
        keep-alive pings go out every third of it.
    :param handshake_timeout: seconds a connection may take to shake hands.
    :param linger: seconds ``aclose`` waits for the peer to acknowledge the
        last data before closing anyway.
    :param window: bytes a sender may have in flight, unread by the peer, per
        stream (a larger single frame is allowed when nothing is in flight).
    :param max_connections: connections one server holds at most; Initial
        packets beyond that are dropped.
    """

    schemes = ("quic",)

    def __init__(
        self,
        *,
        idle_timeout: float = 30.0,
        handshake_timeout: float = 10.0,
        linger: float = 5.0,
        window: int = 1024 * 1024,
        max_connections: int = 200_000,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.handshake_timeout = handshake_timeout
        self.linger = linger
        self.window = window
        self.max_connections = max_connections

    def _link(self, quic: QuicConnection, send: Any, max_frame: int) -> QuicLink:
        return QuicLink(
            quic,
            send,
            max_frame=max_frame,
            window=self.window,
            idle_timeout=self.idle_timeout,
            linger=self.linger,
            handshake_timeout=self.handshake_timeout,
        )

    # --- client ----------------------------------------------------------------------

    async def connect(
        self,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        server_hostname: str | None = None,
        ca_file: str | None = None,
    ) -> Channel:
        """Open a QUIC connection; its control channel is returned.

        :param ssl_context: a client context as for TCP+TLS (trust, hostname check).
        :param server_hostname: the name to verify, if not the URL's host.
        :param ca_file: a CA bundle to trust, instead of or beside ``ssl_context``.
        """
        host, port = split_host_port(url, DEFAULT_PORT)
        cfg = client_configuration(
            ssl_context, server_name=server_hostname or host, ca_file=ca_file, idle_timeout=self.idle_timeout
        )
        family, addr = await _resolve(host, port)
        sock = trio.socket.socket(family, socket.SOCK_DGRAM)
        try:
            await sock.connect(addr)
        except OSError as exc:
            sock.close()
            raise ConnectFailed(f"cannot reach {url}: {exc}") from exc
        client = _ClientSocket(sock, addr)
        link = self._link(QuicConnection(configuration=cfg), client.send, max_frame)
        link.quic.connect(addr, now=trio.current_time())
        cancel = trio.CancelScope()
        trio.lowlevel.spawn_system_task(_run_client, link, client, cancel, name=f"quic-client {url}")
        ok = False
        try:
            with trio.move_on_after(self.handshake_timeout):
                async with trio.open_nursery() as n:

                    async def until_done() -> None:
                        await link.handshake_done.wait()
                        n.cancel_scope.cancel()

                    n.start_soon(until_done)
                    await link.finished.wait()
                    n.cancel_scope.cancel()
            ok = link.handshake_done.is_set() and link.alive
        finally:
            if not ok:
                cancel.cancel()
        if not ok:
            reason = link.ended or client.error or "no answer (UDP blocked or nothing listening?)"
            raise ConnectFailed(f"QUIC handshake with {url} failed: {reason}")
        return link.control

    # --- server ----------------------------------------------------------------------

    async def serve(
        self,
        url: str,
        handler: Handler,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        limits: ConnLimits | ConnGate | None = None,
        task_status: Any = trio.TASK_STATUS_IGNORED,
        cert_file: str | None = None,
        key_file: str | None = None,
    ) -> None:
        """Accept QUIC connections on one UDP socket.

        :param ssl_context: a server context from :func:`transports.server_context`.
        :param limits: pre-login bounds and connection caps (see :class:`ConnLimits`),
            or a :class:`ConnGate` whose counts other listeners share.
        :param cert_file: certificate chain (PEM), instead of ``ssl_context``.
        :param key_file: its private key (PEM).
        """
        host, port = split_host_port(url, DEFAULT_PORT)
        cfg = server_configuration(ssl_context, cert_file=cert_file, key_file=key_file, idle_timeout=self.idle_timeout)
        family, addr = await _resolve(host, port)
        sock = trio.socket.socket(family, socket.SOCK_DGRAM)
        try:
            await sock.bind(addr)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise ConnectFailed(f"address in use: {url}") from exc
            raise ConnectFailed(f"cannot listen on {url}: {exc}") from exc
        with sock:
            gate = gate_for(limits, url)
            server = _Server(self, sock, cfg, handler, max_frame, gate)
            async with trio.open_nursery() as nursery:
                server.nursery = nursery
                task_status.started(_format_url(sock.getsockname()))
                await server.receive_forever()


class _ClientSocket:
    """The client's connected UDP socket."""

    def __init__(self, sock: trio.socket.SocketType, addr: Any) -> None:
        self.sock = sock
        self.addr = addr
        self.error: str | None = None

    async def send(self, data: bytes, addr: Any) -> None:
        await self.sock.send(data)


async def _run_client(link: QuicLink, client: _ClientSocket, cancel: trio.CancelScope) -> None:
    """The system task behind a client channel: read datagrams, drive the link."""
    try:
        with cancel:
            async with trio.open_nursery() as nursery:

                async def read() -> None:
                    while True:
                        try:
                            data = await client.sock.recv(_RECV_SIZE)
                        except OSError as exc:
                            # A connected UDP socket learns of ICMP errors:
                            # nothing listens there (any more).
                            client.error = f"{exc.strerror or exc}"
                            link.fail(TransportBroken(f"{link.peer} unreachable: {client.error}"))
                            return
                        link.feed(data, client.addr)

                nursery.start_soon(read)
                await link.run()
                nursery.cancel_scope.cancel()
    except Exception:  # a system task must never raise (Cancelled aside)
        log.exception("QUIC client task failed")
    finally:
        link.fail(TransportBroken("connection dropped"))
        client.sock.close()


class _Server:
    """One UDP socket, many connections routed by destination connection id."""

    def __init__(
        self,
        carrier: QuicCarrier,
        sock: trio.socket.SocketType,
        cfg: Any,
        handler: Handler,
        max_frame: int,
        gate: ConnGate | None = None,
    ) -> None:
        self.gate = gate
        self.carrier = carrier
        self.sock = sock
        self.cfg = cfg
        self.handler = handler
        self.max_frame = max_frame
        self.routes: dict[bytes, QuicLink] = {}
        self.links: set[QuicLink] = set()
        self.nursery: trio.Nursery
        self._send_lock = trio.Lock()

    async def sendto(self, data: bytes, addr: Any) -> None:
        # trio lets one task at a time wait for a socket to drain.
        async with self._send_lock:
            try:
                await self.sock.sendto(data, addr)
            except OSError as exc:
                # One unreachable client must not end the others' connections.
                log.debug("dropped a datagram to %s: %s", addr, exc)

    async def receive_forever(self) -> None:
        while True:
            try:
                data, addr = await self.sock.recvfrom(_RECV_SIZE)
            except OSError as exc:
                log.debug("UDP receive error: %s", exc)
                await trio.sleep(0.01)
                continue
            try:
                await self.route(data, addr)
            except Exception:  # never let one datagram stop the server
                log.exception("cannot route a datagram from %s", addr)

    async def route(self, data: bytes, addr: Any) -> None:
        try:
            header = pull_quic_header(Buffer(data=data), host_cid_length=self.cfg.connection_id_length)
        except (ValueError, IndexError):
            return  # not QUIC
        if (
            header.packet_type != QuicPacketType.VERSION_NEGOTIATION
            and header.version is not None
            and header.version not in self.cfg.supported_versions
        ):
            if len(data) >= _MIN_INITIAL:  # only answer what cannot amplify
                await self.sendto(
                    encode_quic_version_negotiation(
                        source_cid=header.destination_cid,
                        destination_cid=header.source_cid,
                        supported_versions=self.cfg.supported_versions,
                    ),
                    addr,
                )
            return
        link = self.routes.get(header.destination_cid)
        if link is None:
            if header.packet_type != QuicPacketType.INITIAL or len(data) < _MIN_INITIAL:
                return
            if len(self.links) >= self.carrier.max_connections:
                log.warning("QUIC server full (%d connections); dropping a new one", len(self.links))
                return
            link = self._accept(header.destination_cid, addr)
            if link is None:
                return
        link.feed(data, addr)

    def _accept(self, original_cid: bytes, addr: Any) -> QuicLink | None:
        admission = self.gate.admit(str(addr[0])) if self.gate is not None else None
        if self.gate is not None and admission is None:
            return None  # over a cap: the datagram is dropped, nothing is kept
        quic = QuicConnection(configuration=self.cfg, original_destination_connection_id=original_cid)
        link = self.carrier._link(quic, self.sendto, self.max_frame)
        if admission is not None:
            link.control.start_preauth(admission)
        cids = {original_cid, quic.host_cid}
        for cid in cids:
            self.routes[cid] = link

        def issued(cid: bytes) -> None:
            cids.add(cid)
            self.routes[cid] = link

        def retired(cid: bytes) -> None:
            cids.discard(cid)
            if self.routes.get(cid) is link:
                del self.routes[cid]

        link.on_cid_issued = issued
        link.on_cid_retired = retired
        self.links.add(link)

        async def run() -> None:
            try:
                # The pre-login deadline ends the whole connection, handshake included.
                with guarding(admission, link.peer):
                    async with trio.open_nursery() as n:

                        async def start_handler() -> None:
                            await link.handshake_done.wait()
                            self.nursery.start_soon(run_handler, self.handler, link.control)

                        n.start_soon(start_handler)
                        await link.run()
                        n.cancel_scope.cancel()
            finally:
                self.links.discard(link)
                for cid in cids:
                    if self.routes.get(cid) is link:
                        del self.routes[cid]

        self.nursery.start_soon(run)
        return link


__all__ = ["QuicCarrier", "QuicChannel"]
