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
    """Incremental frame splitter: feed bytes, take whole message bodies.

    Only bytes that arrived are held, as the chunks they came in: a peer that
    announces a large frame and sends little of it costs what it sent, never
    the announced length. ``max_frame`` may be changed between feeds (a
    server lowers it until the peer logs in).
    """

    __slots__ = ("_chunks", "_have", "_head", "_need", "max_frame")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._head = b""  # header bytes of the next frame, fewer than 4
        self._chunks: list[bytes] = []  # body bytes of the current frame
        self._have = 0
        self._need = -1  # body length of the current frame; -1 while reading a header
        self.max_frame = max_frame

    @property
    def pending(self) -> int:
        """Bytes held that do not yet form a whole frame."""
        return len(self._head) + self._have

    def feed(self, data: bytes) -> list[bytes]:
        bodies: list[bytes] = []
        view = memoryview(data)
        pos, end = 0, len(data)
        while pos < end:
            if self._need < 0:
                take = min(4 - len(self._head), end - pos)
                self._head += view[pos : pos + take]
                pos += take
                if len(self._head) < 4:
                    break
                (size,) = _HEADER.unpack(self._head)
                self._head = b""
                if size > self.max_frame:
                    raise FrameTooLarge(f"peer announced a {size}-byte frame (max {self.max_frame})")
                if size == 0:
                    bodies.append(b"")
                    continue
                self._need = size
            take = min(self._need - self._have, end - pos)
            self._chunks.append(bytes(view[pos : pos + take]))
            self._have += take
            pos += take
            if self._have == self._need:
                chunks, self._chunks = self._chunks, []
                bodies.append(chunks[0] if len(chunks) == 1 else b"".join(chunks))
                self._have, self._need = 0, -1
        return bodies
