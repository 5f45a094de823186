"""Agent credentials: a small token signed by the center's Ed25519 key.

Proxies verify tokens offline with the center's public key (sent to them in
``welcome``), so a proxy keeps no credential database and a stolen proxy
cannot mint credentials. Revocation is pushed to proxies (``revoke``).
"""

from __future__ import annotations

import base64
import time

import msgspec
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from transports import ErrorCode, StarlingError
from transports.signing import PrivateKey, PublicKey, public_key_bytes, signing_key


class Claims(msgspec.Struct, array_like=True):
    agent_id: str
    idc: str
    issued: float
    expires: float
    #: The agent's Ed25519 public key (raw); its hello must prove it holds the key.
    pubkey: bytes = b""


class CredentialError(StarlingError):
    code = ErrorCode.P005


def proxy_token(master: str, proxy_id: str) -> str:
    """A proxy's own credential, derived from the center's master proxy secret:
    a leaked one exposes a single proxy, which the center can then revoke."""
    import hashlib
    import hmac

    return hmac.new(master.encode(), b"starling-proxy\x00" + proxy_id.encode(), hashlib.sha256).hexdigest()


def issue(key: PrivateKey, agent_id: str, idc: str, ttl: float = 365 * 86400, pubkey: bytes = b"") -> str:
    now = time.time()
    body = msgspec.msgpack.encode(Claims(agent_id, idc, now, now + ttl, pubkey))
    sig = signing_key(key).sign(b"starling-cred\x00" + body).signature
    return base64.urlsafe_b64encode(body).decode() + "." + base64.urlsafe_b64encode(sig).decode()


def verify(public: PublicKey, token: str, agent_id: str, now: float | None = None) -> Claims:
    try:
        body_b64, sig_b64 = token.split(".", 1)
        body = base64.urlsafe_b64decode(body_b64)
        sig = base64.urlsafe_b64decode(sig_b64)
        key = public if isinstance(public, VerifyKey) else VerifyKey(public_key_bytes(public))
        key.verify(b"starling-cred\x00" + body, sig)
        claims = msgspec.msgpack.decode(body, type=Claims)
    except (ValueError, TypeError, BadSignatureError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CredentialError("credential invalid") from exc
    if claims.agent_id != agent_id:
        raise CredentialError("credential belongs to another agent")
    if claims.expires < (now or time.time()):
        raise CredentialError("credential expired")
    return claims
