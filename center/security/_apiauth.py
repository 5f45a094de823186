"""Signed API requests: HMAC-SHA256 over the request, with a clock window and nonces.

Every API call carries four headers::

    X-Starling-Key        the account key id
    X-Starling-Timestamp  POSIX seconds (integer) when the client signed
    X-Starling-Nonce      16..128 chars of [A-Za-z0-9_-], fresh per request
    X-Starling-Signature  hex HMAC-SHA256(secret, string-to-sign)

The string to sign (see :func:`string_to_sign`) is, one per line::

    STARLING-HMAC-SHA256
    key id
    METHOD
    canonical path      percent-decoded then re-encoded the one canonical way
    canonical query     pairs sorted by name then value, re-encoded
    timestamp
    nonce
    hex SHA-256 of the body bytes

Refusals carry their catalogue code::

    StarlingError
    └── RequestRefused
        ├── AuthenticationFailed  C007  unsigned, unknown key, malformed, bad signature
        └── RequestReplayed       C008  outside the clock window, or nonce seen before

The nonce is remembered only after the signature checks out (so a stranger
cannot burn a caller's nonces) and only as long as the window could still
accept it.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import re
import secrets
import threading
import time
from collections.abc import Generator, Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import httpx

from transports import ErrorCode, StarlingError

__all__ = [
    "DEFAULT_WINDOW",
    "HEADER_KEY",
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "AuthenticationFailed",
    "KeyStore",
    "MemoryKeyStore",
    "MemoryNonceStore",
    "NonceStore",
    "RequestRefused",
    "RequestReplayed",
    "StarlingAuth",
    "canonical_path",
    "canonical_query",
    "sign_request",
    "string_to_sign",
    "verify_request",
]

HEADER_KEY = "X-Starling-Key"
HEADER_TIMESTAMP = "X-Starling-Timestamp"
HEADER_NONCE = "X-Starling-Nonce"
HEADER_SIGNATURE = "X-Starling-Signature"
DEFAULT_WINDOW = 300.0
"""Seconds a signed request stays acceptable either side of the server's clock."""

_ALGORITHM = "STARLING-HMAC-SHA256"
_NONCE_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_KEY_RE = re.compile(r"[\x21-\x7e]{1,200}")
_SIG_RE = re.compile(r"[0-9a-f]{64}")
_TS_RE = re.compile(r"[0-9]{1,12}")
_UNRESERVED = "-_.~"


class RequestRefused(StarlingError):
    """An API request failed authentication; ``code`` says why."""


class AuthenticationFailed(RequestRefused):
    code = ErrorCode.C007


class RequestReplayed(RequestRefused):
    code = ErrorCode.C008


class KeyStore(Protocol):
    """Where the verifier finds an account key's secret."""

    def secret_for(self, key_id: str) -> bytes | None:
        """The key's HMAC secret, or ``None`` when the key is unknown or disabled."""
        ...


class NonceStore(Protocol):
    """Remembers nonces until the clock window has passed."""

    def check_and_remember(self, key_id: str, nonce: str, expires: float) -> bool:
        """Record ``nonce`` for ``key_id`` until ``expires``; ``False`` if already seen."""
        ...


class MemoryKeyStore:
    """A :class:`KeyStore` over a dict; for tests, the embedded mode and clients."""

    def __init__(self, secrets_by_key: Mapping[str, bytes] | None = None) -> None:
        self._secrets = dict(secrets_by_key or {})

    def add(self, key_id: str, secret: bytes) -> None:
        self._secrets[key_id] = secret

    def remove(self, key_id: str) -> None:
        self._secrets.pop(key_id, None)

    def secret_for(self, key_id: str) -> bytes | None:
        return self._secrets.get(key_id)


class MemoryNonceStore:
    """A thread-safe in-memory :class:`NonceStore` for one center process.

    Several centers behind one load balancer need a shared store (the database);
    this one is right for the embedded mode and one-center setups.

    :param max_entries: upper bound on remembered nonces; past it, new requests
        are refused (C008) rather than letting memory grow without bound.
    :param clock: returns the current time; expired nonces are dropped against it.
    """

    def __init__(self, max_entries: int = 1_000_000, clock: Any = time.time) -> None:
        self._seen: dict[tuple[str, str], float] = {}
        self._expiry: list[tuple[float, tuple[str, str]]] = []
        self._lock = threading.Lock()
        self._max = max_entries
        self._clock = clock

    def __len__(self) -> int:
        return len(self._seen)

    def _purge(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] < now:
            _, entry = heapq.heappop(self._expiry)
            if self._seen.get(entry, now + 1) < now:
                del self._seen[entry]

    def check_and_remember(self, key_id: str, nonce: str, expires: float) -> bool:
        entry = (key_id, nonce)
        with self._lock:
            self._purge(self._clock())
            if entry in self._seen:
                return False
            if len(self._seen) >= self._max:
                raise RequestReplayed("too many requests inside the clock window; retry shortly")
            self._seen[entry] = expires
            heapq.heappush(self._expiry, (expires, entry))
            return True


def canonical_path(path: str) -> str:
    """The one encoding of a URL path both sides sign (``/a%20b`` ≡ ``/a b``)."""
    return quote(unquote(path or "/"), safe="/" + _UNRESERVED)


def canonical_query(query: str) -> str:
    """Query pairs sorted by name then value, each re-encoded the one canonical way."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(
        f"{quote(k, safe=_UNRESERVED)}={quote(v, safe=_UNRESERVED)}" for k, v in sorted(pairs)
    )


def string_to_sign(
    key_id: str, method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes
) -> bytes:
    """The exact bytes the HMAC covers; ``path`` and ``query`` as they appear in the URL."""
    return "\n".join(
        (
            _ALGORITHM,
            key_id,
            method.upper(),
            canonical_path(path),
            canonical_query(query),
            timestamp,
            nonce,
            hashlib.sha256(body).hexdigest(),
        )
    ).encode()


def _split(url: str | httpx.URL) -> tuple[str, str]:
    if isinstance(url, httpx.URL):
        return url.raw_path.split(b"?", 1)[0].decode("ascii"), url.query.decode("ascii")
    parts = urlsplit(url)
    return parts.path, parts.query


def sign_request(
    key_id: str,
    secret: bytes,
    method: str,
    url: str | httpx.URL,
    body: bytes = b"",
    now: float | None = None,
    *,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four ``X-Starling-*`` headers for one request.

    :param url: absolute URL or path with query string; scheme and host are not signed.
    :param body: the exact body bytes that will be sent.
    :param now: signing time (default: the current time).
    :param nonce: override the fresh random nonce (tests only).
    """
    path, query = _split(url)
    timestamp = str(int(time.time() if now is None else now))
    nonce = secrets.token_urlsafe(18) if nonce is None else nonce
    mac = hmac.new(
        secret, string_to_sign(key_id, method, path, query, timestamp, nonce, body), hashlib.sha256
    )
    return {
        HEADER_KEY: key_id,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: mac.hexdigest(),
    }


def _header_map(headers: Mapping[str, str] | Iterable[tuple[Any, Any]]) -> dict[str, list[str]]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    found: dict[str, list[str]] = {}
    for name, value in items:
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        found.setdefault(name.lower(), []).append(value)
    return found


def _one(found: dict[str, list[str]], name: str, pattern: re.Pattern[str]) -> str:
    values = found.get(name.lower())
    if not values:
        raise AuthenticationFailed(f"unsigned request: missing {name}")
    if len(values) > 1:
        raise AuthenticationFailed(f"{name} given more than once")
    if not pattern.fullmatch(values[0]):
        raise AuthenticationFailed(f"malformed {name}")
    return values[0]


def check_signature_headers(
    headers: Mapping[str, str] | Iterable[tuple[Any, Any]], *, now: float | None = None, window: float = DEFAULT_WINDOW
) -> tuple[str, str, str, str]:
    """The checks a request passes on its headers alone (each signature header once and well
    formed, the timestamp inside the clock window): key id, timestamp, nonce, signature.

    A server runs these before it reads the body, so an unsigned or stale request is refused
    without the server buffering what it sent; :func:`verify_request` runs them again.

    :raises AuthenticationFailed: (C007) unsigned or malformed.
    :raises RequestReplayed: (C008) timestamp outside the window.
    """
    found = _header_map(headers)
    key_id = _one(found, HEADER_KEY, _KEY_RE)
    timestamp = _one(found, HEADER_TIMESTAMP, _TS_RE)
    nonce = _one(found, HEADER_NONCE, _NONCE_RE)
    signature = _one(found, HEADER_SIGNATURE, _SIG_RE)
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > window:
        raise RequestReplayed(f"timestamp {int(timestamp)} is outside the {window:.0f}s clock window")
    return key_id, timestamp, nonce, signature


def verify_request(
    method: str,
    url: str | httpx.URL,
    headers: Mapping[str, str] | Iterable[tuple[Any, Any]],
    body: bytes,
    *,
    keys: KeyStore,
    nonces: NonceStore,
    now: float | None = None,
    window: float = DEFAULT_WINDOW,
) -> str:
    """Check one request's signature, clock and nonce; return the key id it was signed with.

    :param url: the request target exactly as received, still percent-encoded (under
        ASGI: ``scope["raw_path"]`` plus ``"?" + scope["query_string"]``); a full URL is fine.
    :param headers: the request headers (any mapping or list of pairs; names any case).
    :param body: the exact body bytes received.
    :param keys: where to find the key's secret.
    :param nonces: where used nonces are remembered.
    :param window: seconds either side of ``now`` a timestamp may be.
    :raises AuthenticationFailed: (C007) unsigned, malformed, unknown key, bad signature.
    :raises RequestReplayed: (C008) timestamp outside the window, or nonce already used.
    """
    key_id, timestamp, nonce, signature = check_signature_headers(headers, now=now, window=window)
    secret = keys.secret_for(key_id)
    if secret is None:
        raise AuthenticationFailed(f"unknown key {key_id!r}")
    signed_at = int(timestamp)
    try:
        path, query = _split(url)
        message = string_to_sign(key_id, method, path, query, timestamp, nonce, body)
    except (ValueError, UnicodeError) as exc:
        raise AuthenticationFailed("malformed request target") from exc
    expected = hmac.new(secret, message, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise AuthenticationFailed("signature does not match the request")
    if not nonces.check_and_remember(key_id, nonce, signed_at + window):
        raise RequestReplayed("nonce already used")
    return key_id


class StarlingAuth(httpx.Auth):
    """httpx authentication that signs every request transparently::

    client = httpx.Client(base_url=url, auth=StarlingAuth(key_id, secret))
    """

    requires_request_body = True

    def __init__(self, key_id: str, secret: bytes) -> None:
        self.key_id = key_id
        self.secret = secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(
            sign_request(self.key_id, self.secret, request.method, request.url, request.content)
        )
        yield request
