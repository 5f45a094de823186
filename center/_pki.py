"""Embedded PKI: a private CA and leaf certificates made on first start, so
``starling up`` needs no manual certificate work. Production deployments pass
their own CA and certificates instead."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from transports import private_dir, self_signed_builder, write_private


def _write(path: Path, data: bytes, private: bool = False) -> None:
    if private:
        # Created 0600 from the first byte, in a 0700 directory.
        private_dir(path.parent)
        write_private(path, data)
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


#: The embedded CA lives ten years; leaf certificates 397 days (the CA/Browser
#: Forum's limit for public TLS certificates is 398) and are re-issued when
#: fewer than RENEW_DAYS remain, or when they lack what strict verifiers
#: (Python 3.13's default context, OpenSSL's X509_STRICT) demand.
CA_DAYS = 3650
LEAF_DAYS = 397
RENEW_DAYS = 30


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None


def _ca_ok(cert: x509.Certificate) -> bool:
    """True if ``cert`` is a CA certificate strict verifiers accept."""
    bc, ku = _ext(cert, x509.BasicConstraints), _ext(cert, x509.KeyUsage)
    return (
        bc is not None and bc.critical and isinstance(bc.value, x509.BasicConstraints) and bc.value.ca
        and ku is not None and ku.critical and isinstance(ku.value, x509.KeyUsage) and ku.value.key_cert_sign
        and _ext(cert, x509.SubjectKeyIdentifier) is not None
    )


def _ca_certificate(key: ec.EllipticCurvePrivateKey, subject: x509.Name | None = None) -> x509.Certificate:
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    if subject is None:
        builder = self_signed_builder(key, "Starling embedded CA", days=CA_DAYS, backdate=3600)
    else:  # re-signing an older CA keeps its name, so its leaves still chain
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        )
    return (
        builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )


def ensure_ca(directory: Path) -> tuple[Path, Path]:
    """The embedded CA's certificate and key, made on first use. A CA made by
    an older release (no key identifiers) is re-signed in place with the same
    key and name, so certificates it issued keep verifying."""
    private_dir(directory)
    cert_path, key_path = directory / "ca.pem", directory / "ca.key"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if _ca_ok(cert):
            return cert_path, key_path
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        _write(cert_path, _ca_certificate(key, cert.subject).public_bytes(serialization.Encoding.PEM))
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _ca_certificate(key)
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _leaf_ok(cert: x509.Certificate, ca_cert: x509.Certificate, hosts: list[str]) -> bool:
    """True if ``cert`` can be kept: issued by this CA with its key identifier,
    carrying key usage and every host asked for, and not about to expire."""
    aki, ku = _ext(cert, x509.AuthorityKeyIdentifier), _ext(cert, x509.KeyUsage)
    ca_ski, san = _ext(ca_cert, x509.SubjectKeyIdentifier), _ext(cert, x509.SubjectAlternativeName)
    if aki is None or ca_ski is None or ku is None or san is None or _ext(cert, x509.SubjectKeyIdentifier) is None:
        return False
    assert isinstance(aki.value, x509.AuthorityKeyIdentifier) and isinstance(ca_ski.value, x509.SubjectKeyIdentifier)
    if aki.value.key_identifier != ca_ski.value.digest or cert.issuer != ca_cert.subject:
        return False
    assert isinstance(san.value, x509.SubjectAlternativeName)
    names = {str(n.value) for n in san.value}
    left = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    return set(hosts) <= names and left > dt.timedelta(days=RENEW_DAYS)


def issue_cert(directory: Path, name: str, hosts: list[str]) -> tuple[Path, Path]:
    """A server+client certificate for ``hosts`` signed by the embedded CA:
    kept while it is good, issued anew (new key) when missing, about to
    expire, or lacking what strict verifiers demand."""
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    ca_cert_path, ca_key_path = ensure_ca(directory)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    if cert_path.exists() and key_path.exists():
        if _leaf_ok(x509.load_pem_x509_certificate(cert_path.read_bytes()), ca_cert, hosts):
            return cert_path, key_path
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            # An EC key signs; it never enciphers a key (that is RSA key transport).
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def ensure_signing_key(path: Path) -> ed25519.Ed25519PrivateKey:
    """The center's Ed25519 key: signs agent credentials and tasks."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), None)
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        return key
    private_dir(path.parent)
    key = ed25519.Ed25519PrivateKey.generate()
    _write(path, _key_pem(key), private=True)
    return key
