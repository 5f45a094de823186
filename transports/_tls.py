"""TLS contexts for every Starling link (TLS 1.2 minimum, 1.3 preferred).

The contexts made here remember the files they were built from
(:func:`tls_files`), because a QUIC stack does its own TLS 1.3 and needs the
certificate and key themselves, which an :class:`ssl.SSLContext` never gives
back. So one context serves every carrier: TCP+TLS and HTTPS use it as it is,
QUIC reads the files behind it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_ATTR = "starling_tls_files"
#: TLS 1.2 suites offered: forward secret (ECDHE) and AEAD only, no CBC
#: (LUCKY13) and no static RSA. TLS 1.3 suites are AEAD by definition.
AEAD_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"


@dataclass(frozen=True)
class TlsFiles:
    """PEM files behind a TLS context (any may be None)."""

    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None


def _opt(path: str | Path | None) -> str | None:
    return str(path) if path is not None else None


def tls_files(ctx: ssl.SSLContext | None) -> TlsFiles | None:
    """The files ``ctx`` was built from, if it came from this module."""
    files = getattr(ctx, _ATTR, None) if ctx is not None else None
    return files if isinstance(files, TlsFiles) else None


def server_context(cert_file: str | Path, key_file: str | Path, *, client_ca: str | Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(AEAD_CIPHERS)
    ctx.load_cert_chain(str(cert_file), str(key_file))
    # No TLS 1.3 session tickets: no client here resumes a session (trio's SSLStream and
    # httpx never hand one back), and issuing two per handshake cost the server ~35 µs
    # of a ~260 µs handshake (bench/tls_handshake.py).
    ctx.num_tickets = 0
    # A send never has to read (transports._tlsstream relies on it): no renegotiation.
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    if client_ca is not None:
        ctx.load_verify_locations(str(client_ca))
        ctx.verify_mode = ssl.CERT_OPTIONAL
    setattr(ctx, _ATTR, TlsFiles(str(cert_file), str(key_file), _opt(client_ca)))
    return ctx


def client_context(ca_file: str | Path | None = None, *, cert_file: str | Path | None = None, key_file: str | Path | None = None) -> ssl.SSLContext:
    """A verifying client context; ``ca_file`` None means the system store."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file) if ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(AEAD_CIPHERS)
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    if cert_file is not None and key_file is not None:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    setattr(ctx, _ATTR, TlsFiles(_opt(cert_file), _opt(key_file), _opt(ca_file) if ca_file else None))
    return ctx


def self_signed_builder(key: Any, common_name: str, *, days: float, backdate: float = 300.0) -> Any:
    """A ``cryptography`` certificate builder for a self-issued certificate of
    ``key`` (subject = issuer = ``common_name``), valid from ``backdate``
    seconds ago for ``days``; add extensions, then ``.sign(key, SHA256())``."""
    import datetime as dt

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(seconds=backdate))
        .not_valid_after(now + dt.timedelta(days=days))
    )
