"""The agent's own Ed25519 key on disk, through PyNaCl.

The file is the standard PEM "PRIVATE KEY" (PKCS#8, RFC 8410) that OpenSSL and
`cryptography` write and read, so keys made by earlier agents (which used
`cryptography`) load unchanged, and ``openssl pkey -in agent-ed25519.pem`` reads
ours. An Ed25519 PKCS#8 body is a fixed 16-byte DER prefix and the 32-byte seed
(RFC 8410 §7), so no ASN.1 library is needed for it; anything else is refused.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from nacl.signing import SigningKey

# SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }
_PKCS8_ED25519 = bytes.fromhex("302e020100300506032b657004220420")
_BEGIN = "-----BEGIN PRIVATE KEY-----"
_END = "-----END PRIVATE KEY-----"


class KeyFileError(ValueError):
    """The key file is not an unencrypted PEM PKCS#8 Ed25519 private key."""


def key_to_pem(key: SigningKey) -> bytes:
    """``key`` as PEM PKCS#8 (what ``openssl genpkey -algorithm ed25519`` writes)."""
    b64 = base64.b64encode(_PKCS8_ED25519 + bytes(key)).decode()
    return f"{_BEGIN}\n{b64}\n{_END}\n".encode()


def key_from_pem(data: bytes) -> SigningKey:
    """Parse PEM PKCS#8 Ed25519. :raises KeyFileError: anything else."""
    text = data.decode("ascii", "replace")
    start, end = text.find(_BEGIN), text.find(_END)
    if start < 0 or end < start:
        raise KeyFileError("not a PEM 'PRIVATE KEY' block")
    try:
        der = base64.b64decode("".join(text[start + len(_BEGIN) : end].split()), validate=True)
    except binascii.Error as exc:
        raise KeyFileError("the PEM body is not base64") from exc
    if len(der) != len(_PKCS8_ED25519) + 32 or not der.startswith(_PKCS8_ED25519):
        raise KeyFileError("not an Ed25519 PKCS#8 key")
    return SigningKey(der[len(_PKCS8_ED25519) :])


def load_or_create_key(path: Path) -> SigningKey:
    """The agent's own Ed25519 key, made once at first start (mode 0600)."""
    from transports import write_private

    if path.exists():
        return key_from_pem(path.read_bytes())
    key = SigningKey.generate()
    # Created 0600 from the first byte and linked into place whole: never readable by
    # others, never half written; a second process making one at once shares the first's.
    try:
        write_private(path, key_to_pem(key), exclusive=True)
    except FileExistsError:
        return key_from_pem(path.read_bytes())
    return key
