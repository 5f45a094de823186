"""The carrier interface: a tiny surface every transport implements.

A :class:`Carrier` opens channels (``connect``) and accepts them (``serve``).
A :class:`Channel` sends and receives whole :class:`~transports.Message` values.
Carriers are found by URL scheme through the entry-point group
``starling.transports`` (see :func:`get_carrier`), so a third party can add one.

A carrier that multiplexes natively (QUIC) also offers extra streams beside
the control channel: its channels are :class:`MultiStreamChannel`, whose
``open_stream`` / ``accept_stream`` give independent sub-channels, so a large
file or a chatty terminal never queues in front of control messages. Callers
test for the capability with ``isinstance`` and otherwise multiplex
``stream_*`` messages on the control channel.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from ssl import SSLContext
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import trio

from ._codec import DEFAULT_MAX_FRAME
from ._codes import ErrorCode
from ._errors import ChannelClosed, ConnectFailed, TransportError, UnknownMessage, leaf_errors
from ._messages import Message

if TYPE_CHECKING:  # the pre-login bounds are a server's: a client (the agent) never loads them
    from ._guard import Admission, ConnGate, ConnLimits

log = logging.getLogger("starling.transports")

Handler = Callable[["Channel"], Awaitable[None]]


class Channel(abc.ABC):
    """A two-way message channel. One task may ``receive`` at a time; any number
    may ``send`` concurrently (carriers serialise sends)."""

    carrier: str = ""
    peer: str = ""
    _admission: Admission | None = None

    @abc.abstractmethod
    async def send(self, msg: Message) -> None:
        """Send one message; raises :class:`TransportError` subclasses."""

    async def send_many(self, msgs: Sequence[Message]) -> None:
        """Send ``msgs`` in order. Carriers that can put them in one write do
        (stream carriers: one ``send_all`` per 64 KiB); this default sends
        them one by one."""
        for msg in msgs:
            await self.send(msg)

    @abc.abstractmethod
    async def receive(self) -> Message:
        """Wait for the next message; :class:`ChannelClosed` at a clean end."""

    def receive_nowait(self) -> Message:
        """The next message if one is here already, else :class:`trio.WouldBlock`
        (always, for a carrier that cannot tell without waiting). Not a checkpoint."""
        raise trio.WouldBlock

    def park_fileno(self) -> int:
        """The descriptor a :class:`~transports.Parking` lot would wait on, or -1:
        this channel cannot park."""
        return -1

    @property
    def parked(self) -> bool:
        """True while a :class:`~transports.Parking` lot holds the channel: the handler
        that parked it returns without closing it (see :func:`run_handler`)."""
        return False

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close the channel; idempotent."""

    @abc.abstractmethod
    async def send_raw(self, data: bytes) -> None:
        """Write bytes verbatim under the codec. For conformance tests only."""

    @abc.abstractmethod
    async def abort(self) -> None:
        """Drop the channel abruptly, as a crash would (TCP: a reset).

        The peer must see :class:`TransportBroken`, never :class:`ChannelClosed`:
        at once where the carrier can tell it, at the latest when its keep-alive
        or session timeout runs out. Idempotent; a later ``aclose`` does nothing.
        """

    def mark_authenticated(self) -> None:
        """The server's handler calls this once the peer proved who it is: the
        pre-login bounds (small frames, login deadline, pre-login counts; see
        :class:`ConnLimits`) are lifted. Harmless on any other channel."""
        admission, self._admission = self._admission, None
        if admission is not None:
            admission.mark_authenticated()
            self._set_receive_limit(None)

    def start_preauth(self, admission: Admission) -> None:
        """Put this (server-side) channel under ``admission``'s pre-login bounds."""
        self._admission = admission
        self._set_receive_limit(admission.gate.limits.preauth_frame)

    def _set_receive_limit(self, limit: int | None) -> None:
        """Carrier hook: refuse received frames above ``limit`` bytes (``None``:
        the carrier's ``max_frame`` again). A carrier that cannot bound its
        frames before login leaves it as is."""
        return None

    async def __aenter__(self) -> Channel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> Channel:
        return self

    async def __anext__(self) -> Message:
        while True:
            try:
                return await self.receive()
            except ChannelClosed:
                raise StopAsyncIteration from None
            except UnknownMessage as exc:
                self.skip_unknown(exc)

    def skip_unknown(self, exc: UnknownMessage) -> None:
        """A message of a type this side does not know (a newer peer): the frame was
        whole, so the channel carries on; one WARNING line says what was skipped."""
        log.warning("ignoring %s from %s", exc, self.peer)


class MultiStreamChannel(Channel):
    """Optional extension: a channel that carries independent sub-streams.

    Each sub-stream is itself a :class:`Channel` (same messages, same framing,
    its own flow control): a sender blocked on a sub-stream whose reader is
    slow never delays the control channel or the other sub-streams. Either
    side may open one; the other side gets it from :meth:`accept_stream` as
    soon as it is opened. ``aclose`` on a sub-stream ends it cleanly (the peer
    sees :class:`ChannelClosed`), ``abort`` resets it (:class:`TransportBroken`);
    closing the parent channel ends every sub-stream with it.
    """

    @abc.abstractmethod
    async def open_stream(self) -> Channel:
        """Open a new sub-stream to the peer."""

    @abc.abstractmethod
    async def accept_stream(self) -> Channel:
        """Wait for the peer to open a sub-stream; raises like ``receive`` when
        the parent channel ends."""


class Carrier(abc.ABC):
    """Opens and accepts :class:`Channel` objects for one URL scheme."""

    schemes: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    async def connect(
        self,
        url: str,
        *,
        ssl_context: SSLContext | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> Channel:
        """Open a channel to ``url``; :class:`ConnectFailed` if it cannot."""

    @abc.abstractmethod
    async def serve(
        self,
        url: str,
        handler: Handler,
        *,
        ssl_context: SSLContext | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        limits: ConnLimits | ConnGate | None = None,
        task_status: Any = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept channels on ``url`` forever, running ``handler`` for each.

        Calls ``task_status.started(bound_url)`` once listening (the bound URL has
        the real port when ``url`` asked for port 0). The channel is closed when
        the handler returns; a handler's :class:`TransportError` is logged, never
        fatal to the server. With ``limits``, connections are admitted through a
        :class:`~transports.ConnGate` (pass one gate to several listeners to
        share its counts) and held to the pre-login bounds until the handler
        calls :meth:`Channel.mark_authenticated`.
        """


async def send_if_open(channel: Channel | None, msg: Message) -> bool:
    """Send on ``channel`` if there is one; ``False`` instead of an error when
    there is none or it broke (callers that keep state to re-send later)."""
    if channel is None:
        return False
    try:
        await channel.send(msg)
        return True
    except TransportError:
        return False


async def run_handler(handler: Handler, channel: Channel) -> None:
    """Run one connection handler so that its failure stays its own, and close
    the channel after it unless the handler parked it (:class:`~transports.Parking`)."""
    try:
        await handler(channel)
    except Exception as raised:
        leaves = leaf_errors(raised)
        if all(isinstance(e, trio.TooSlowError) for e in leaves):
            # Expected: a peer that connects and then says nothing in time
            # (a port scanner, a health check, a stuck client). One line.
            log.info("peer %s sent nothing in time; closed", channel.peer, extra={"code": ErrorCode.P003.value})
        elif all(isinstance(e, TransportError) for e in leaves):
            exc = leaves[0]
            assert isinstance(exc, TransportError)
            log.debug("channel from %s ended: %s (%s)", channel.peer, exc, exc.code)
        else:
            log.exception("handler for %s crashed", channel.peer)
    finally:
        if not getattr(channel, "parked", False):  # duck-typed channels (tests) have no such flag
            with trio.CancelScope(shield=True):
                await channel.aclose()


_carriers: dict[str, Carrier] = {}
def _group(group: str) -> Iterable[Any]:
    # The agent installs the entry points its declaring child read (no importlib.metadata).
    from .entrypoints import entries

    return entries(group)


def _load_carriers(only: str | None = None) -> None:
    """Import carrier entry points: those named ``only`` (the usual case, so an
    agent on TCP never imports QUIC's or HTTP's libraries), or all of them."""
    for ep in _group("starling.transports"):
        if only is not None and ep.name != only:
            continue
        try:
            cls = ep.load()
        except Exception:  # a broken third-party carrier must not break the others
            log.exception("cannot load carrier entry point %s", ep.name)
            continue
        carrier = cls()
        for scheme in cls.schemes or (ep.name,):
            _carriers.setdefault(scheme, carrier)


def register_carrier(carrier: Carrier) -> None:
    """Register a carrier instance in-process (tests, embedding)."""
    for scheme in carrier.schemes:
        _carriers[scheme] = carrier


def get_carrier(url_or_scheme: str) -> Carrier:
    scheme = url_or_scheme.split("://", 1)[0] if "://" in url_or_scheme else url_or_scheme
    if scheme not in _carriers:
        _load_carriers(only=scheme)
    if scheme not in _carriers:
        _load_carriers()  # a carrier may serve schemes it is not named after
    try:
        return _carriers[scheme]
    except KeyError:
        raise ConnectFailed(f"no carrier for scheme {scheme!r}") from None


def available_schemes() -> list[str]:
    _load_carriers()
    return sorted(_carriers)


async def connect(url: str, **kwargs: Any) -> Channel:
    return await get_carrier(url).connect(url, **kwargs)


def split_host_port(url: str, default_port: int = 0) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port if parts.port is not None else default_port
    return host, port
