"""Fixtures shared by the transport tests: a throwaway CA and its files."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from transports import client_context, server_context


@dataclass(frozen=True)
class TlsSet:
    """A CA, a certificate for 127.0.0.1/localhost, and the contexts built from them."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsSet:
    root = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
    ca_file, cert_file, key_file = root / "ca.pem", root / "cert.pem", root / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert_file.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key_file))
    return TlsSet(
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        server=server_context(cert_file, key_file),
        client=client_context(ca_file),
    )
