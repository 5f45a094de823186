"""End-to-end authentication of what the center sends into a stream (terminal input).

Tasks are signed by the center, but a terminal's keystrokes travel as
``stream_*`` messages after the task started, through the proxy. So that a
proxy cannot inject or replay keystrokes, the center makes a random 32-byte
session key per stream and seals it to the agent's key (a libsodium sealed
box to the X25519 form of the agent's Ed25519 key) inside the task's signed
params; the agent opens it with its private key. Every message the center sends
down then carries ``seq`` (strictly increasing) and a MAC: HMAC-SHA256 over the
stream id, seq, kind and content, cut to 16 bytes. The agent drops the stream
(A010) on the first message whose MAC or order is wrong. Output going up is not
MAC-ed (the center only displays it).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

from ._messages import StreamClose, StreamCredit, StreamData, StreamResize

__all__ = ["KEY_BYTES", "new_session_key", "open_session_key", "seal_session_key", "stream_mac", "verify_stream_mac"]

KEY_BYTES = 32
MAC_BYTES = 16


def new_session_key() -> bytes:
    return os.urandom(KEY_BYTES)


def seal_session_key(key: bytes, agent_public_key: bytes) -> bytes:
    """``key`` sealed to an agent's Ed25519 public key (32 bytes)."""
    from nacl.public import SealedBox
    from nacl.signing import VerifyKey

    return bytes(SealedBox(VerifyKey(agent_public_key).to_curve25519_public_key()).encrypt(key))


def open_session_key(sealed: bytes, signing_key: Any) -> bytes:
    """Open a sealed session key with the agent's ``nacl.signing.SigningKey``;
    raises ``nacl.exceptions.CryptoError`` when it was not sealed to this agent."""
    from nacl.public import SealedBox

    key = SealedBox(signing_key.to_curve25519_private_key()).decrypt(sealed)
    if len(key) != KEY_BYTES:
        raise ValueError("a session key is 32 bytes")
    return bytes(key)


def _content(msg: Any) -> bytes:
    if isinstance(msg, StreamData):
        return b"d|" + msg.data
    if isinstance(msg, StreamResize):
        return b"r|%d|%d" % (msg.cols, msg.rows)
    if isinstance(msg, StreamCredit):
        return b"w|%d" % msg.grant
    if isinstance(msg, StreamClose):
        return b"c|" + msg.code.encode() + b"|" + msg.message.encode()
    raise TypeError(f"not a stream message: {type(msg).__name__}")


def stream_mac(key: bytes, msg: Any) -> bytes:
    """The MAC of a down-going stream message (its ``seq`` must be set)."""
    head = b"%d|%d|" % (msg.stream_id, msg.seq)
    return hmac.new(key, head + _content(msg), hashlib.sha256).digest()[:MAC_BYTES]


def verify_stream_mac(key: bytes, msg: Any) -> bool:
    return len(msg.mac) == MAC_BYTES and hmac.compare_digest(stream_mac(key, msg), msg.mac)
