"""The embedded PKI makes certificates strict verifiers accept (key
identifiers, key usage, current validity), upgrades what older releases made,
and renews leaves before they expire. Strictness is checked by OpenSSL itself
(``VERIFY_X509_STRICT``, which Python 3.13 turns on by default) over a real
TLS handshake on loopback."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from center._pki import LEAF_DAYS, ensure_ca, issue_cert
from transports import server_context

HOSTS = ["127.0.0.1", "localhost"]


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _strict_client(ca: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    # What Python 3.13's create_default_context sets, asked for explicitly here.
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN
    return ctx


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> str:
    """One TLS handshake over loopback; the negotiated cipher, or the raised error."""
    lsock = socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]

    def serve() -> None:
        conn, _ = lsock.accept()
        try:
            with server.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with client.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                cipher = tls.cipher()
                assert cipher is not None
                return cipher[0]
    finally:
        t.join(10)
        lsock.close()


def test_new_certificates_carry_what_strict_verifiers_demand(tmp_path: Path) -> None:
    ca_path, _ = ensure_ca(tmp_path)
    cert_path, key_path = issue_cert(tmp_path, "proxy", HOSTS)
    ca, leaf = _cert(ca_path), _cert(cert_path)
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value == x509.SubjectKeyIdentifier.from_public_key(leaf.public_key())
    lku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert lku.critical and lku.value.digital_signature and not lku.value.key_cert_sign
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    life = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert life <= dt.timedelta(days=398), life
    assert ca.not_valid_after_utc - ca.not_valid_before_utc > dt.timedelta(days=3000)
    cipher = _handshake(server_context(cert_path, key_path), _strict_client(ca_path))
    assert "GCM" in cipher or "CHACHA20" in cipher


def _old_style(directory: Path) -> tuple[Path, Path]:
    """A CA and leaf as the previous release made them: no key identifiers,
    no key usage on the leaf, 825 days."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Starling embedded CA")])
    ca = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "proxy")]))
        .issuer_name(name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def pem(k: ec.EllipticCurvePrivateKey) -> bytes:
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "ca.key").write_bytes(pem(ca_key))
    (directory / "proxy.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (directory / "proxy.key").write_bytes(pem(key))
    return directory / "ca.pem", directory / "proxy.pem"


def test_older_certificates_are_refused_strictly_then_upgraded(tmp_path: Path) -> None:
    ca_path, leaf_path = _old_style(tmp_path)
    old_ca, old_leaf = _cert(ca_path), _cert(leaf_path)
    with pytest.raises(ssl.SSLCertVerificationError):  # the failure Python 3.13 users saw
        _handshake(server_context(leaf_path, tmp_path / "proxy.key"), _strict_client(ca_path))
    ensure_ca(tmp_path)
    new_ca = _cert(ca_path)
    # Same key and name: what the old CA issued still chains to the new one.
    assert new_ca.subject == old_ca.subject and new_ca.public_key() == old_ca.public_key()
    old_leaf.verify_directly_issued_by(new_ca)
    issue_cert(tmp_path, "proxy", HOSTS)
    new_leaf = _cert(leaf_path)
    assert new_leaf.serial_number != old_leaf.serial_number
    _handshake(server_context(leaf_path, tmp_path / "proxy.key"), _strict_client(ca_path))


def test_leaf_is_kept_while_good_and_renewed_near_expiry(tmp_path: Path) -> None:
    cert_path, _ = issue_cert(tmp_path, "center", HOSTS)
    first = _cert(cert_path)
    issue_cert(tmp_path, "center", HOSTS)
    assert _cert(cert_path).serial_number == first.serial_number  # kept
    issue_cert(tmp_path, "center", [*HOSTS, "center.example"])
    second = _cert(cert_path)
    assert second.serial_number != first.serial_number  # a new name: re-issued
    # Fewer than 30 days left: re-issued at the next start.
    ca_key = serialization.load_pem_private_key((tmp_path / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    now = dt.datetime.now(dt.UTC)
    builder = x509.CertificateBuilder(
        issuer_name=second.issuer, subject_name=second.subject, public_key=second.public_key(),
        serial_number=x509.random_serial_number(), not_valid_before=now - dt.timedelta(days=380),
        not_valid_after=now + dt.timedelta(days=10), extensions=list(second.extensions),
    )
    cert_path.write_bytes(builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    issue_cert(tmp_path, "center", [*HOSTS, "center.example"])
    renewed = _cert(cert_path)
    assert renewed.not_valid_after_utc - now > dt.timedelta(days=LEAF_DAYS - 1)
