"""Prototype: Ed25519 with the libcrypto the ``ssl`` module already mapped,
through ctypes (already imported by trio), instead of importing ``cryptography``
(its Rust extension alone is ~5 MB of resident pages, ~7 MB with its modules).

Measured by ``bench/footprint.py``: ``install_cryptography_shim()`` puts stand-ins
for the few ``cryptography`` names the agent uses (Ed25519 keys, PKCS#8 PEM, raw
encodings, ``InvalidSignature``) in ``sys.modules``, so the unchanged agent and
``transports._signing`` run on libcrypto. It is a measurement device and the
sketch of a real change (an ``_ed25519`` module in transports for the agent's
side), not a replacement for ``cryptography`` in general. OpenSSL 1.1.1 and 3.x
both provide the one-shot ``EVP_DigestSign``/``EVP_DigestVerify`` with raw keys.

    python bench/_ed25519_libcrypto.py     # interoperability check against cryptography
"""

from __future__ import annotations

import base64
import ctypes
import enum
import functools
import os
import ssl
import sys
import types
from ctypes import POINTER, c_char_p, c_int, c_size_t, c_void_p
from typing import Any

NID_ED25519 = 1087
# DER of a PKCS#8 Ed25519 private key is this prefix and the 32-byte seed (RFC 8410).
PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")


@functools.cache
def _lib() -> ctypes.CDLL:
    # The libcrypto that _ssl is linked against, found in our own mappings: no
    # second copy of OpenSSL, and no ldconfig/gcc run by ctypes.util.find_library.
    assert ssl.OPENSSL_VERSION
    with open("/proc/self/maps") as fh:
        path = next(line.split()[-1] for line in fh if "/libcrypto.so" in line)
    lib = ctypes.CDLL(path)
    for name in ("EVP_PKEY_new_raw_public_key", "EVP_PKEY_new_raw_private_key"):
        getattr(lib, name).restype = c_void_p
        getattr(lib, name).argtypes = [c_int, c_void_p, c_char_p, c_size_t]
    lib.EVP_PKEY_get_raw_public_key.argtypes = [c_void_p, c_char_p, POINTER(c_size_t)]
    lib.EVP_PKEY_free.argtypes = [c_void_p]
    lib.EVP_MD_CTX_new.restype = c_void_p
    lib.EVP_MD_CTX_free.argtypes = [c_void_p]
    for name in ("EVP_DigestVerifyInit", "EVP_DigestSignInit"):
        getattr(lib, name).argtypes = [c_void_p, c_void_p, c_void_p, c_void_p, c_void_p]
    lib.EVP_DigestVerify.argtypes = [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t]
    lib.EVP_DigestSign.argtypes = [c_void_p, c_char_p, POINTER(c_size_t), c_char_p, c_size_t]
    return lib


def _pkey(raw: bytes, private: bool) -> int:
    lib = _lib()
    make = lib.EVP_PKEY_new_raw_private_key if private else lib.EVP_PKEY_new_raw_public_key
    pkey = make(NID_ED25519, None, raw, len(raw))
    if not pkey:
        raise ValueError("invalid Ed25519 key")
    return int(pkey)


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is ``public_key``'s Ed25519 signature of ``message``."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    lib = _lib()
    pkey = _pkey(public_key, private=False)
    ctx = lib.EVP_MD_CTX_new()
    try:
        if lib.EVP_DigestVerifyInit(ctx, None, None, None, pkey) != 1:
            return False
        return bool(lib.EVP_DigestVerify(ctx, signature, 64, message, len(message)) == 1)
    finally:
        lib.EVP_MD_CTX_free(ctx)
        lib.EVP_PKEY_free(pkey)


def sign(seed: bytes, message: bytes) -> bytes:
    """The Ed25519 signature of ``message`` by the key with this 32-byte seed."""
    lib = _lib()
    pkey = _pkey(seed, private=True)
    ctx = lib.EVP_MD_CTX_new()
    try:
        out, size = ctypes.create_string_buffer(64), c_size_t(64)
        if lib.EVP_DigestSignInit(ctx, None, None, None, pkey) != 1 or lib.EVP_DigestSign(ctx, out, ctypes.byref(size), message, len(message)) != 1:
            raise ValueError("EVP_DigestSign failed")
        return out.raw[: size.value]
    finally:
        lib.EVP_MD_CTX_free(ctx)
        lib.EVP_PKEY_free(pkey)


def public_from_seed(seed: bytes) -> bytes:
    lib = _lib()
    pkey = _pkey(seed, private=True)
    try:
        out, size = ctypes.create_string_buffer(32), c_size_t(32)
        if lib.EVP_PKEY_get_raw_public_key(pkey, out, ctypes.byref(size)) != 1:
            raise ValueError("EVP_PKEY_get_raw_public_key failed")
        return out.raw[: size.value]
    finally:
        lib.EVP_PKEY_free(pkey)


# -- the stand-in for the slice of the cryptography API the agent uses --------------


class InvalidSignature(Exception):
    pass


class Encoding(enum.Enum):
    PEM = "PEM"
    Raw = "Raw"


class PublicFormat(enum.Enum):
    Raw = "Raw"


class PrivateFormat(enum.Enum):
    PKCS8 = "PKCS8"


class NoEncryption:
    pass


class Ed25519PublicKey:
    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    @classmethod
    def from_public_bytes(cls, data: bytes) -> Ed25519PublicKey:
        if len(data) != 32:
            raise ValueError("An Ed25519 public key is 32 bytes long")
        return cls(bytes(data))

    def public_bytes(self, encoding: Encoding, fmt: PublicFormat) -> bytes:
        assert encoding is Encoding.Raw and fmt is PublicFormat.Raw
        return self._raw

    def verify(self, signature: bytes, data: bytes) -> None:
        if not verify(self._raw, bytes(signature), bytes(data)):
            raise InvalidSignature()


class Ed25519PrivateKey:
    def __init__(self, seed: bytes) -> None:
        self._seed = seed

    @classmethod
    def generate(cls) -> Ed25519PrivateKey:
        return cls(os.urandom(32))

    def sign(self, data: bytes) -> bytes:
        return sign(self._seed, bytes(data))

    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey(public_from_seed(self._seed))

    def private_bytes(self, encoding: Encoding, fmt: PrivateFormat, enc: NoEncryption) -> bytes:
        assert encoding is Encoding.PEM and fmt is PrivateFormat.PKCS8
        body = base64.b64encode(PKCS8_PREFIX + self._seed).decode()
        return f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n".encode()


def load_pem_private_key(data: bytes, password: Any) -> Ed25519PrivateKey:
    lines = [x for x in data.decode().splitlines() if x and not x.startswith("-----")]
    der = base64.b64decode("".join(lines))
    if len(der) != 48 or not der.startswith(PKCS8_PREFIX):
        raise ValueError("not an unencrypted PKCS#8 Ed25519 key")
    return Ed25519PrivateKey(der[16:])


def install_cryptography_shim() -> None:
    """Make ``import cryptography...`` (the names above) resolve to this module."""

    def module(name: str, **attrs: Any) -> types.ModuleType:
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        mod.__path__ = []  # type: ignore[attr-defined]  # a package, so submodules resolve
        sys.modules[name] = mod
        return mod

    ed = module(
        "cryptography.hazmat.primitives.asymmetric.ed25519",
        Ed25519PrivateKey=Ed25519PrivateKey,
        Ed25519PublicKey=Ed25519PublicKey,
    )
    ser = module(
        "cryptography.hazmat.primitives.serialization",
        Encoding=Encoding,
        PublicFormat=PublicFormat,
        PrivateFormat=PrivateFormat,
        NoEncryption=NoEncryption,
        load_pem_private_key=load_pem_private_key,
    )
    asym = module("cryptography.hazmat.primitives.asymmetric", ed25519=ed)
    prim = module("cryptography.hazmat.primitives", serialization=ser, asymmetric=asym)
    hazmat = module("cryptography.hazmat", primitives=prim)
    module("cryptography", hazmat=hazmat, exceptions=module("cryptography.exceptions", InvalidSignature=InvalidSignature))


def _self_check() -> None:
    from pathlib import Path

    # bench/ holds scripts named like packages (bench/transports.py): keep them off sys.path.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    real = ed25519.Ed25519PrivateKey.generate()
    pem = real.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    ours = load_pem_private_key(pem, None)
    assert ours.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()) == pem
    pub = real.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert ours.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) == pub
    for msg in (b"", b"starling-job-v1", bytes(range(256)) * 40):
        sig = real.sign(msg)
        assert ours.sign(msg) == sig  # Ed25519 is deterministic
        assert verify(pub, sig, msg)
        assert not verify(pub, sig, msg + b"x")
        assert not verify(pub, bytes([sig[0] ^ 1]) + sig[1:], msg)
    print("libcrypto Ed25519 (sign, verify, PKCS#8 PEM) agrees with cryptography")


if __name__ == "__main__":
    _self_check()
