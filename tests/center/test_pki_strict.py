"""Certificates from the embedded CA (and `starling pki`) pass strict X.509 checks:
Python >= 3.13 turns on VERIFY_X509_STRICT by default (Debian 13's agents), which
refuses certificates without key identifiers."""

from __future__ import annotations

import ssl

import pytest

from center._pki import ensure_ca, issue_cert


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str) -> None:
    """A TLS handshake over memory BIOs, no sockets."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    cli = client.wrap_bio(c_in, c_out, server_hostname=hostname)
    srv = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(20):
        for name, obj in (("c", cli), ("s", srv)):
            if not done[name]:
                try:
                    obj.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


@pytest.mark.parametrize("host", ["127.0.0.1", "center.example.net"])
def test_strict_verification_accepts_our_certificates(tmp_path, host):
    ca, _ = ensure_ca(tmp_path)
    cert, key = issue_cert(tmp_path, "center", [host])
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(ca))
    client.verify_flags |= ssl.VERIFY_X509_STRICT
    _handshake(server, client, host)


def test_strict_verification_refuses_another_ca(tmp_path):
    ensure_ca(tmp_path / "a")
    cert, key = issue_cert(tmp_path / "a", "center", ["127.0.0.1"])
    other, _ = ensure_ca(tmp_path / "b")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(other))
    client.verify_flags |= ssl.VERIFY_X509_STRICT
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, client, "127.0.0.1")
