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

* It owns the socket (a plain non-blocking stdlib socket) and its
  :class:`ssl.SSLObject` with two memory BIOs; reads and writes go straight to
  the socket and wait on trio's I/O readiness only when the socket would block.
* **One sender at a time** is the caller's rule (a :class:`StreamChannel`
  holds its send lock around every write); **one receiver at a time** too (its
  reader task). A send never needs to read: renegotiation is off on both sides
  (``OP_NO_RENEGOTIATION`` in ``transports._tls``; TLS 1.3 has none). A
  receive may need to send (an alert, a TLS 1.3 key update): the bytes go to
  the socket through the same write path, after any write in progress.
* Every call is a trio checkpoint, as trio's own streams are: a cancelled
  task is told at the start, and a call that did not wait yields once at the
  end so that a busy connection cannot starve the others.
* A cancelled or failed write in the middle of a record breaks the stream
  (the peer would see a torn record); later calls raise
  :class:`trio.BrokenResourceError`, as with ``SSLStream``.
"""

from __future__ import annotations

import socket as _socket
import ssl
import threading

import trio

_RECV = 16 * 1024 + 512  # one TLS record (16 KiB of plaintext) and its overhead
_buffers = threading.local()  # one receive buffer per thread running trio, shared by its streams


def _scratch(size: int) -> memoryview:
    """This thread's receive buffer (the socket is read into it, then the bytes are
    handed to the memory BIO before anything else can run: no per-connection buffer)."""
    buf = getattr(_buffers, "buf", None)
    if buf is None or len(buf) < size:
        buf = _buffers.buf = memoryview(bytearray(size))
    return buf


def _broken(what: str, exc: BaseException) -> trio.BrokenResourceError:
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc.__class__.__name__
    return trio.BrokenResourceError(f"{what}: {reason} ({exc})")


class TlsStream(trio.abc.Stream):
    """A TLS connection over the connected, non-blocking stdlib socket ``sock``.

    :param sock: the socket, owned by the stream from now on (closed by :meth:`aclose`).
    :param read_cap: the most bytes read from the socket at once: the memory
        BIO keeps the size of the largest piece it was fed for the connection's
        life, so reading one record at a time keeps idle connections small.
    """

    __slots__ = ("socket", "_tls", "_in", "_out", "_cap", "_writing", "_written", "_broken", "_closed")

    def __init__(
        self,
        sock: _socket.socket,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: str | bytes | None = None,
        read_cap: int = _RECV,
    ) -> None:
        self.socket = sock
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._in, self._out, server_side=server_side, server_hostname=server_hostname  # type: ignore[arg-type]
        )
        self._cap = read_cap
        self._writing = False
        self._written: trio.lowlevel.ParkingLot | None = None  # made when a second writer has to wait
        self._broken: str | None = None
        self._closed = False

    @classmethod
    def over(cls, tcp: trio.SocketStream, context: ssl.SSLContext, **kwargs: object) -> TlsStream:
        """Take the socket of a connected trio ``tcp`` stream (which is spent)."""
        fd = tcp.socket.detach()
        sock = _socket.socket(fileno=fd)
        sock.setblocking(False)
        return cls(sock, context, **kwargs)  # type: ignore[arg-type]

    # -- the socket ---------------------------------------------------------

    def _check(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the TLS stream is closed")
        if self._broken is not None:
            raise trio.BrokenResourceError(self._broken)

    async def _fill(self) -> bool:
        """Feed the TLS object what the socket has, waiting for it if need be.
        False at the end of the TCP stream."""
        view = _scratch(self._cap)
        while True:
            try:
                n = self.socket.recv_into(view, self._cap)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self.socket)
                continue
            except OSError as exc:
                self._broken = f"receive failed: {exc}"
                raise _broken("receive failed", exc) from exc
            if n == 0:
                return False
            self._in.write(view[:n])
            return True

    async def _flush(self) -> None:
        """Write everything the TLS object has produced. Writers take turns: a
        second one waits while the first drains the buffer (its bytes too)."""
        if self._writing:
            if self._written is None:
                self._written = trio.lowlevel.ParkingLot()
            await self._written.park()
            if self._broken is not None:
                raise trio.BrokenResourceError(self._broken)
            if not self._out.pending:
                return
        self._writing = True
        try:
            while self._out.pending:
                view = memoryview(self._out.read())
                while view:
                    try:
                        n = self.socket.send(view)
                    except BlockingIOError:
                        await trio.lowlevel.wait_writable(self.socket)
                        continue
                    view = view[n:]
        except OSError as exc:
            self._broken = f"send failed: {exc}"
            raise _broken("send failed", exc) from exc
        except BaseException:
            # Cancelled (or the socket closed under us) in the middle of a record.
            self._broken = "a send was interrupted in the middle of a TLS record"
            raise
        finally:
            self._writing = False
            if self._written is not None:
                self._written.unpark_all()

    # -- trio.abc.Stream ------------------------------------------------------

    async def do_handshake(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check()
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                self._broken = f"TLS handshake failed: {exc}"
                await self._flush_quietly()  # the alert tells the peer why
                raise _broken("TLS handshake failed", exc) from exc
            await self._flush()
            if not await self._fill():
                self._broken = "the peer closed the connection during the TLS handshake"
                raise trio.BrokenResourceError(self._broken)
        await self._flush()

    async def _flush_quietly(self) -> None:
        try:
            with trio.move_on_after(1):
                await self._flush()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check()
        if data:
            try:
                self._tls.write(data)
            except ssl.SSLError as exc:
                self._broken = f"TLS send failed: {exc}"
                raise _broken("TLS send failed", exc) from exc
            await self._flush()
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        self._check()
        await trio.lowlevel.wait_writable(self.socket)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Up to ``max_bytes`` of plaintext; b"" when the peer closed (with a TLS
        close_notify or, as a crashed peer does, with a bare TCP FIN)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check()
        size = max_bytes or 65536
        while True:
            try:
                data = self._tls.read(size)
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                data = b""  # close_notify
            except ssl.SSLError as exc:
                self._broken = f"TLS receive failed: {exc}"
                raise _broken("TLS receive failed", exc) from exc
            else:
                if self._out.pending:  # the read made an answer (a key update, an alert)
                    await self._flush()
                await trio.lowlevel.cancel_shielded_checkpoint()
                return data
            if self._out.pending:
                await self._flush()
            if not await self._fill():
                await trio.lowlevel.cancel_shielded_checkpoint()
                return b""

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
                self._tls.unwrap()
            except ssl.SSLError:  # SSLWantReadError: the peer's close_notify is not awaited
                pass
            try:
                if self._out.pending:
                    self.socket.send(self._out.read())
            except OSError:
                pass
        self.close_now()
        await trio.lowlevel.checkpoint()
