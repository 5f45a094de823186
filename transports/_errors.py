"""Errors raised by the wire and its carriers.

The tree, drawn once::

    StarlingError                 (carries an ErrorCode)
    └── TransportError
        ├── ChannelClosed         the peer closed cleanly, at a frame boundary
        ├── ClosedByYou           this side already closed the channel
        ├── TransportBroken       the peer vanished: reset, EOF inside a frame, TLS failure
        ├── ConnectFailed         could not open a channel at all
        └── ProtocolError         the bytes are not our protocol (P003)
            ├── UnknownMessage    a valid frame of a message type we do not know
            ├── FrameTooLarge     a frame announced more than max_frame bytes (P004)
            └── VersionMismatch   the hello names a protocol version we do not speak (P008)

Library exceptions (``OSError``, ``ssl.SSLError``, ``trio.BrokenResourceError``,
``msgspec.DecodeError``) never leave a carrier: they are translated at the boundary
with ``raise ... from exc``. ``trio.Cancelled`` is never caught.
"""

from __future__ import annotations

from ._codes import ErrorCode


class StarlingError(Exception):
    """Base of every Starling error; ``code`` is a catalogue entry."""

    code: ErrorCode = ErrorCode.C020

    def __init__(self, message: str = "", *, code: ErrorCode | None = None) -> None:
        if code is not None:
            self.code = code
        super().__init__(message or self.code.meaning)

    @property
    def message(self) -> str:
        return str(self)


class TransportError(StarlingError):
    code = ErrorCode.P007


class ChannelClosed(TransportError):
    """The peer closed the channel cleanly."""


class ClosedByYou(TransportError):
    """This side closed the channel and then used it."""


class TransportBroken(TransportError):
    """The peer went away uncleanly (reset, EOF mid-frame, TLS error)."""


class ConnectFailed(TransportError):
    """A channel could not be opened (refused, unreachable, handshake failed)."""


class ProtocolError(TransportError):
    code = ErrorCode.P003


class UnknownMessage(ProtocolError):
    """A well-formed message of a type this side does not know (a newer peer).

    The framing is intact, so the channel stays usable; iterating a channel
    skips such messages."""

    def __init__(self, tag: str) -> None:
        super().__init__(f"unknown message type {tag!r}")
        self.tag = tag


class FrameTooLarge(ProtocolError):
    code = ErrorCode.P004


class VersionMismatch(ProtocolError):
    code = ErrorCode.P008


def leaf_errors(exc: BaseException) -> list[BaseException]:
    """The non-group exceptions inside ``exc`` (trio wraps errors in groups)."""
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for inner in exc.exceptions:
            out.extend(leaf_errors(inner))
        return out
    return [exc]
