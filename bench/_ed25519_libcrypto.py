"""Prototype: verify an Ed25519 signature with the libcrypto the ``ssl`` module
already mapped, through ctypes (already imported by trio), instead of importing
``cryptography`` (its Rust extension alone is ~5 MB of resident pages).

Measured by ``bench/footprint.py``; a candidate for the agent's side of
``transports._signing`` (the center keeps ``cryptography`` for signing). OpenSSL
1.1.1 and 3.x both have the one-shot ``EVP_DigestVerify`` with raw Ed25519 keys.

    python bench/_ed25519_libcrypto.py     # self-check against cryptography
"""

from __future__ import annotations

import ctypes
import functools
import ssl
from ctypes import c_char_p, c_int, c_size_t, c_void_p

EVP_PKEY_ED25519 = 1087  # NID_ED25519


@functools.cache
def _lib() -> ctypes.CDLL:
    # The libcrypto that _ssl is linked against, found in our own mappings, so no
    # second copy of OpenSSL is loaded (and no ldconfig/gcc run by find_library).
    assert ssl.OPENSSL_VERSION
    with open("/proc/self/maps") as fh:
        path = next(line.split()[-1] for line in fh if "/libcrypto.so" in line)
    lib = ctypes.CDLL(path)
    lib.EVP_PKEY_new_raw_public_key.restype = c_void_p
    lib.EVP_PKEY_new_raw_public_key.argtypes = [c_int, c_void_p, c_char_p, c_size_t]
    lib.EVP_PKEY_free.argtypes = [c_void_p]
    lib.EVP_MD_CTX_new.restype = c_void_p
    lib.EVP_MD_CTX_free.argtypes = [c_void_p]
    lib.EVP_DigestVerifyInit.argtypes = [c_void_p, c_void_p, c_void_p, c_void_p, c_void_p]
    lib.EVP_DigestVerify.argtypes = [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t]
    return lib


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is ``public_key``'s Ed25519 signature of ``message``."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    lib = _lib()
    pkey = lib.EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, None, public_key, 32)
    if not pkey:
        return False
    ctx = lib.EVP_MD_CTX_new()
    try:
        if lib.EVP_DigestVerifyInit(ctx, None, None, None, pkey) != 1:
            return False
        return bool(lib.EVP_DigestVerify(ctx, signature, 64, message, len(message)) == 1)
    finally:
        lib.EVP_MD_CTX_free(ctx)
        lib.EVP_PKEY_free(pkey)


def _self_check() -> None:
    import sys
    from pathlib import Path

    # bench/ holds scripts named like packages (bench/transports.py): keep them off sys.path.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from transports._signing import public_key_bytes

    key = Ed25519PrivateKey.generate()
    pub = public_key_bytes(key)
    for msg in (b"", b"starling-job-v1", bytes(range(256)) * 40):
        sig = key.sign(msg)
        assert verify(pub, sig, msg)
        assert not verify(pub, sig, msg + b"x")
        assert not verify(pub, bytes([sig[0] ^ 1]) + sig[1:], msg)
        assert not verify(public_key_bytes(Ed25519PrivateKey.generate()), sig, msg)
    print("libcrypto Ed25519 verification agrees with cryptography")


if __name__ == "__main__":
    _self_check()
