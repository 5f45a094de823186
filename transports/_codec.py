"""MessagePack codec and length-prefixed framing shared by every carrier.

A frame is a 4-byte big-endian body length followed by the body. Stream
carriers (TCP) use :class:`FrameReader`; message carriers (QUIC datagrams of
a stream, HTTP bodies, memory) use :func:`encode`/:func:`decode` directly.
"""

from __future__ import annotations

import struct
from typing import Any

import msgspec

from ._errors import FrameTooLarge, ProtocolError, UnknownMessage
from ._messages import AnyMessage, Message

DEFAULT_MAX_FRAME = 16 * 1024 * 1024
_HEADER = struct.Struct(">I")

_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(AnyMessage)


def encode(msg: Message) -> bytes:
    return _encoder.encode(msg)


def decode(body: bytes | memoryview) -> Message:
    """Decode one message body; any malformed input is a :class:`ProtocolError`."""
    try:
        msg: Message = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        tag = _tag_of(body)
        if tag is not None and tag not in _KNOWN_TAGS:
            raise UnknownMessage(tag) from exc
        raise ProtocolError(f"invalid message: {exc}") from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"undecodable message: {exc}") from exc
    return msg


_KNOWN_TAGS = frozenset(t.__struct_config__.tag for t in AnyMessage.__args__)  # type: ignore[attr-defined]


def _tag_of(body: bytes | memoryview) -> str | None:
    try:
        value = msgspec.msgpack.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, ValueError):
        return None
    if isinstance(value, dict) and isinstance(value.get("t"), str):
        return str(value["t"])
    return None


def frame(msg: Message, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    body = _encoder.encode(msg)
    if len(body) > max_frame:
        raise FrameTooLarge(f"message of {len(body)} bytes exceeds max_frame {max_frame}")
    return _HEADER.pack(len(body)) + body


def encode_value(value: Any) -> bytes:
    """MessagePack-encode an arbitrary value (action params, results)."""
    return _encoder.encode(value)


def decode_value(data: bytes | msgspec.Raw | None, type: Any = Any) -> Any:
    """Decode an embedded MessagePack value; empty or ``None`` means none."""
    if not data:
        return None
    return msgspec.msgpack.decode(bytes(data), type=type)


class FrameReader:
    """Incremental frame splitter: feed bytes, take whole message bodies."""

    __slots__ = ("_buf", "max_frame")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._buf = bytearray()
        self.max_frame = max_frame

    @property
    def pending(self) -> int:
        """Bytes held that do not yet form a whole frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        bodies: list[bytes] = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= 4:
            (size,) = _HEADER.unpack_from(buf, pos)
            if size > self.max_frame:
                raise FrameTooLarge(f"peer announced a {size}-byte frame (max {self.max_frame})")
            if len(buf) - pos - 4 < size:
                break
            bodies.append(bytes(buf[pos + 4 : pos + 4 + size]))
            pos += 4 + size
        if pos:
            del buf[:pos]
        return bodies
