"""TLS 1.3 settings for QUIC, taken from the same inputs as TCP+TLS.

aioquic runs its own TLS 1.3, so an :class:`ssl.SSLContext` cannot be handed
to it; what it needs is read from the context where Python allows it:

* server: the certificate and key files. An SSLContext never gives its key
  back, so the context must come from :func:`transports.server_context` (which
  remembers its files), or ``cert_file``/``key_file`` are passed. With no TLS
  input at all the server makes an ephemeral self-signed certificate.
* client: trust and checks. ``verify_mode``, ``check_hostname`` and the CA
  certificates loaded into the context (``get_ca_certs``) are honoured, or
  ``ca_file`` is passed. With no TLS input at all the client does not verify
  the server: encrypted but unauthenticated, the trust of plain ``tcp://``.

aioquic servers cannot ask for client certificates, so peers authenticate with
the credential in ``hello``, as on every carrier.
"""

from __future__ import annotations

import ssl

from aioquic.quic.configuration import QuicConfiguration

from ._errors import ConnectFailed
from ._quic_stream import ALPN
from ._tls import tls_files


def server_configuration(
    ssl_context: ssl.SSLContext | None,
    *,
    cert_file: str | None,
    key_file: str | None,
    idle_timeout: float,
) -> QuicConfiguration:
    """The server side's aioquic configuration; :class:`ConnectFailed` if the
    TLS inputs cannot serve."""
    cfg = _base(is_client=False, idle_timeout=idle_timeout)
    files = tls_files(ssl_context)
    cert = cert_file or (files.cert_file if files else None)
    key = key_file or (files.key_file if files else None)
    if cert is None:
        if ssl_context is not None:
            raise ConnectFailed(
                "QUIC needs the certificate and key files: build the context with "
                "transports.server_context(cert_file, key_file) or pass cert_file= and key_file="
            )
        cfg.certificate, cfg.private_key = _ephemeral_certificate()
        return cfg
    try:
        cfg.load_cert_chain(cert, key)
    except (OSError, ValueError, TypeError, IndexError) as exc:
        raise ConnectFailed(f"cannot load QUIC certificate {cert} / key {key}: {exc}") from exc
    if cfg.private_key is None:
        raise ConnectFailed(f"no private key for QUIC: pass key_file= (certificate {cert})")
    return cfg


def client_configuration(
    ssl_context: ssl.SSLContext | None,
    *,
    server_name: str,
    ca_file: str | None,
    idle_timeout: float,
) -> QuicConfiguration:
    """The client side's aioquic configuration, mirroring ``ssl_context``."""
    cfg = _base(is_client=True, idle_timeout=idle_timeout)
    if ssl_context is None and ca_file is None:
        cfg.verify_mode = ssl.CERT_NONE
        return cfg
    if ssl_context is not None and ssl_context.verify_mode == ssl.CERT_NONE:
        cfg.verify_mode = ssl.CERT_NONE
        return cfg
    cfg.verify_mode = ssl.CERT_REQUIRED
    if ssl_context is None or ssl_context.check_hostname:
        cfg.server_name = server_name
    files = tls_files(ssl_context)
    ca = ca_file or (files.ca_file if files else None)
    if ca is not None:
        cfg.load_verify_locations(cafile=ca)
    elif ssl_context is not None:
        ders = ssl_context.get_ca_certs(binary_form=True)
        if ders:
            cfg.load_verify_locations(cadata="".join(map(ssl.DER_cert_to_PEM_cert, ders)).encode())
        else:
            paths = ssl.get_default_verify_paths()
            cfg.load_verify_locations(cafile=paths.cafile, capath=paths.capath)
    return cfg


def _base(*, is_client: bool, idle_timeout: float) -> QuicConfiguration:
    return QuicConfiguration(
        is_client=is_client,
        alpn_protocols=[ALPN],
        idle_timeout=idle_timeout,
        max_data=4 * 1024 * 1024,
        max_stream_data=2 * 1024 * 1024,
    )


def _ephemeral_certificate() -> tuple[object, object]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from ._tls import self_signed_builder

    key = ec.generate_private_key(ec.SECP256R1())
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    # The extensions strict verifiers demand, though nobody verifies this one:
    # a client that gave no TLS input encrypts without authenticating.
    cert = (
        self_signed_builder(key, "starling-ephemeral", days=30)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key
