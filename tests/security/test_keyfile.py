"""The agent's key file and signatures through PyNaCl stay compatible with what
`cryptography`/OpenSSL write and read (old agents' keys, the center's keys)."""

from __future__ import annotations

import shutil
import stat
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.signing import SigningKey

from agent_core._keyfile import KeyFileError, key_from_pem, key_to_pem, load_or_create_key
from transports._signing import (
    SignatureInvalid,
    hello_message,
    key_id_for,
    public_key_bytes,
    sign_hello,
    verify_hello,
)


def _crypto_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def test_key_made_by_cryptography_loads(tmp_path):
    # An agent upgraded from the cryptography-based release keeps its identity.
    old = Ed25519PrivateKey.generate()
    path = tmp_path / "agent-ed25519.pem"
    path.write_bytes(_crypto_pem(old))
    key = load_or_create_key(path)
    assert public_key_bytes(key) == public_key_bytes(old)
    assert key_id_for(key) == key_id_for(old)


def test_our_key_file_is_standard_pkcs8(tmp_path):
    path = tmp_path / "k.pem"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = serialization.load_pem_private_key(path.read_bytes(), None)
    assert isinstance(loaded, Ed25519PrivateKey)
    assert public_key_bytes(loaded) == public_key_bytes(key)
    assert load_or_create_key(path).encode() == key.encode()  # same key on the next start


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")
def test_openssl_reads_our_key(tmp_path):
    path = tmp_path / "k.pem"
    key = load_or_create_key(path)
    der = subprocess.run(["openssl", "pkey", "-in", str(path), "-pubout", "-outform", "DER"], capture_output=True, check=True).stdout
    assert der[-32:] == public_key_bytes(key)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
        # An EC key is PKCS#8 too, but not Ed25519.
        b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n",
        key_to_pem(SigningKey.generate())[:-40],
    ],
    # Fixed ids: a generated key differs in every process, and pytest-xdist's workers must agree.
    ids=["empty", "garbage", "not-base64", "ec-key", "truncated-ed25519"],
)
def test_bad_key_files_refused(data):
    with pytest.raises(KeyFileError):
        key_from_pem(data)


def test_signatures_interoperate_both_ways():
    # The center may sign with a cryptography key; the agent verifies with PyNaCl, and back.
    crypto_key = Ed25519PrivateKey.generate()
    nacl_key = SigningKey.generate()
    for signer, verifier in ((crypto_key, nacl_key.verify_key), (nacl_key, crypto_key.public_key())):
        proof = sign_hello(signer, "agent-1", 1000.0)
        verify_hello(public_key_bytes(signer), "agent-1", 1000.0, proof, 1000.0)
        with pytest.raises(SignatureInvalid):
            verify_hello(public_key_bytes(verifier), "agent-1", 1000.0, proof, 1000.0)
    # And OpenSSL (through cryptography) accepts PyNaCl's signature over the same bytes.
    Ed25519PublicKey.from_public_bytes(public_key_bytes(nacl_key)).verify(sign_hello(nacl_key, "a", 5.0), hello_message("a", 5.0))


def test_malformed_signature_and_key_are_refused_not_crashed():
    key = SigningKey.generate()
    for proof in (b"", b"x" * 63, b"x" * 65, b"\x00" * 64):
        with pytest.raises(SignatureInvalid):
            verify_hello(public_key_bytes(key), "a", 1.0, proof, 1.0)
    with pytest.raises(SignatureInvalid):
        verify_hello(b"short", "a", 1.0, sign_hello(key, "a", 1.0), 1.0)
