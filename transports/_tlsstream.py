"""TLS over one TCP socket, as one small object: the TCP carrier's TLS stream.

trio's :class:`trio.SSLStream` is general: any transport stream under it, any
number of tasks sending and receiving at once, renegotiation mid-write. Each
message through it pays for that generality in Python (two conflict detectors,
a lock, a retry loop that may send while receiving and receive while sending),
and an idle connection keeps it all: measured here, a 200-byte message cost
47.6 µs of CPU through ``SSLStream`` against 22.3 µs over the bare socket, and
~1.7 KB of every idle connection was its bookkeeping. A proxy holding tens of
thousands of agents pays that on every heartbeat.

:class:`TlsStream` does what the carrier needs and no more:

* It owns a non-blocking :class:`ssl.SSLSocket`: OpenSSL reads and writes the
  socket itself, and the stream waits on trio's I/O readiness only when it would
  block. An idle connection keeps no buffer of its own: with two memory BIOs (the
  design until session 10) the outgoing one kept the size of the largest flight it
  ever carried (the server's certificates) and the pair cost ~2.2 KB per idle
  connection more (``bench/tls_memory.py``).
* **One sender at a time** is the caller's rule (a :class:`StreamChannel`
  holds its send lock around every write); **one receiver at a time** too (its
  reader task). A send never needs to read: renegotiation is off on both sides
  (``OP_NO_RENEGOTIATION`` in ``transports._tls``; TLS 1.3 has none). A
  receive may need to send (an alert, the answer to a TLS 1.3 key update):
  OpenSSL writes it, and when the socket is full the receive waits for room
  as the sender does.
* Every call is a trio checkpoint, as trio's own streams are: a cancelled
  task is told at the start, and a call that did not wait yields once at the
  end so that a busy connection cannot starve the others (one that waited has
  yielded already: no second pass through the scheduler).
* A cancelled or failed write in the middle of a record breaks the stream
  (the peer would see a torn record); later calls raise
  :class:`trio.BrokenResourceError`, as with ``SSLStream``.
"""

from __future__ import annotations

import socket as _socket
import ssl
from collections.abc import Callable
from typing import TypeVar

import trio

T = TypeVar("T")


def _broken(what: str, exc: BaseException) -> trio.BrokenResourceError:
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc.__class__.__name__
    return trio.BrokenResourceError(f"{what}: {reason} ({exc})")


class TlsStream(trio.abc.Stream):
    """A TLS connection over the connected, non-blocking stdlib socket ``sock``.

    :param sock: the socket, owned by the stream from now on (closed by :meth:`aclose`);
        the stream's :attr:`socket` is the :class:`ssl.SSLSocket` made from it.
    """

    __slots__ = ("socket", "_writing", "_broken", "_closed")

    def __init__(
        self,
        sock: _socket.socket,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: str | bytes | None = None,
    ) -> None:
        sock.setblocking(False)
        self.socket = context.wrap_socket(
            sock, server_side=server_side, server_hostname=server_hostname,  # type: ignore[arg-type]
            do_handshake_on_connect=False, suppress_ragged_eofs=True,
        )
        self._writing = False
        self._broken: str | None = None
        self._closed = False

    @classmethod
    def over(cls, tcp: trio.SocketStream, context: ssl.SSLContext, **kwargs: object) -> TlsStream:
        """Take the socket of a connected trio ``tcp`` stream (which is spent)."""
        fd = tcp.socket.detach()
        return cls(_socket.socket(fileno=fd), context, **kwargs)  # type: ignore[arg-type]

    def _check(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the TLS stream is closed")
        if self._broken is not None:
            raise trio.BrokenResourceError(self._broken)

    async def _until_done(self, op: Callable[..., T], *args: object) -> tuple[T, bool]:
        """Call ``op(*args)`` (an ``SSLSocket`` method) until OpenSSL stops asking to wait
        for the socket; its result, and whether it waited (the wait was then the call's
        trio checkpoint)."""
        waited = False
        while True:
            try:
                return op(*args), waited
            except ssl.SSLWantReadError:
                writable = False
            except ssl.SSLWantWriteError:  # a receive's answer to a key update waits for room too
                writable = True
            # The wait is outside the ``except`` clause: inside it, an idle connection would
            # keep the exception, its traceback and the frames it names (~1.1 KB) for as
            # long as it waits.
            try:
                if writable:
                    await trio.lowlevel.wait_writable(self.socket)
                else:
                    await trio.lowlevel.wait_readable(self.socket)
            except trio.BusyResourceError:
                # Another task of this stream waits for the same (trio allows one waiter per
                # direction: a receive answering a key update while a send waits for room).
                await trio.sleep(0.001)
            waited = True

    # -- trio.abc.Stream ------------------------------------------------------

    async def do_handshake(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check()
        try:
            await self._until_done(self.socket.do_handshake)
        except ssl.SSLEOFError as exc:
            self._broken = "the peer closed the connection during the TLS handshake"
            raise trio.BrokenResourceError(self._broken) from exc
        except (ssl.SSLError, OSError) as exc:
            # An alert that tells the peer why went out already (OpenSSL writes it).
            self._broken = f"TLS handshake failed: {exc}"
            raise _broken("TLS handshake failed", exc) from exc

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check()
        waited = False
        if data:
            if self._writing:
                raise trio.BusyResourceError("another task is sending on this TLS stream")
            self._writing = True
            try:
                # No partial writes: all of ``data`` is written, or the same call is
                # repeated once there is room (OpenSSL keeps what it encrypted).
                _, waited = await self._until_done(self.socket.send, data)
            except (ssl.SSLError, OSError) as exc:
                self._broken = f"send failed: {exc}"
                raise _broken("send failed", exc) from exc
            except BaseException:
                # Cancelled (or the socket closed under us) in the middle of a record.
                self._broken = "a send was interrupted in the middle of a TLS record"
                raise
            finally:
                self._writing = False
        if not waited:
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        self._check()
        await trio.lowlevel.wait_writable(self.socket)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Up to ``max_bytes`` of plaintext; b"" when the peer closed (with a TLS
        close_notify or, as a crashed peer does, with a bare TCP FIN)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check()
        try:
            data, waited = await self._until_done(self.socket.recv, max_bytes or 65536)
        except ssl.SSLZeroReturnError:
            data, waited = b"", False
        except (ssl.SSLError, OSError) as exc:
            raise self._receive_failed(exc) from exc
        if not waited:
            await trio.lowlevel.cancel_shielded_checkpoint()
        return data

    def receive_some_nowait(self, max_bytes: int | None = None) -> bytes:
        """Like :meth:`receive_some` when there is something to read now (plaintext, or
        b"" for the peer's close); :class:`trio.WouldBlock` when there is not. Not a
        checkpoint. OpenSSL then holds no whole record: the socket turns readable
        when more comes (what :class:`~transports.Parking` waits for).

        A TLS 1.3 key update answered while the socket is full raises WouldBlock too:
        OpenSSL writes the answer ahead of the next send."""
        self._check()
        try:
            return self.socket.recv(max_bytes or 65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except ssl.SSLZeroReturnError:
            return b""
        except (ssl.SSLError, OSError) as exc:
            raise self._receive_failed(exc) from exc
        raise trio.WouldBlock

    def _receive_failed(self, exc: BaseException) -> trio.ClosedResourceError | trio.BrokenResourceError:
        """What a failed read raises: closed (by us, under a waiting receive) or broken."""
        if self._closed:
            return trio.ClosedResourceError("the TLS stream is closed")
        self._broken = f"TLS receive failed: {exc}"
        return _broken("TLS receive failed", exc)

    def close_now(self) -> None:
        """Close the socket at once: no close_notify (a reset says no goodbye)."""
        if self._closed:
            return
        self._closed = True
        trio.lowlevel.notify_closing(self.socket)
        self.socket.close()

    async def aclose(self) -> None:
        """Send close_notify if it fits in the socket's buffer now, and close.
        Never waits on the peer: a goodbye was said above TLS already."""
        if not self._closed and self._broken is None and not self._writing:
            try:
                self.socket.unwrap()
            except (ssl.SSLError, OSError, ValueError):  # SSLWantReadError: the peer's close_notify is not awaited
                pass
        self.close_now()
        await trio.lowlevel.checkpoint()
