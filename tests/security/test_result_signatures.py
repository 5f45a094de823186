"""Agents sign their results; any change on the way back is detected."""

from __future__ import annotations

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from transports import Result, encode_value
from transports._signing import SignatureInvalid, public_key_bytes, sign_result, verify_result


@pytest.fixture
def key():
    return ed25519.Ed25519PrivateKey.generate()


def test_signed_result_verifies_and_survives_the_wire(key):
    from transports import decode, encode

    r = sign_result(key, Result(task_id="j-1", state="succeeded", exit_code=0, stdout="hi\n", data=encode_value({"a": 1})))
    verify_result(public_key_bytes(key), decode(encode(r)))


@pytest.mark.parametrize(
    "change",
    [
        {"stdout": "other\n"}, {"stderr": "x"}, {"state": "failed"}, {"code": "A008"}, {"exit_code": 1},
        {"exit_code": None}, {"message": "m"}, {"task_id": "j-2"}, {"data": b""}, {"truncated": True},
    ],
)
def test_any_altered_field_is_refused(key, change):
    r = sign_result(key, Result(task_id="j-1", state="succeeded", exit_code=0, stdout="hi\n", data=encode_value({"a": 1})))
    with pytest.raises(SignatureInvalid):
        verify_result(public_key_bytes(key), msgspec.structs.replace(r, **change))


def test_unsigned_or_other_key_is_refused(key):
    r = Result(task_id="j-1", state="succeeded")
    with pytest.raises(SignatureInvalid):
        verify_result(public_key_bytes(key), r)
    other = sign_result(ed25519.Ed25519PrivateKey.generate(), r)
    with pytest.raises(SignatureInvalid):
        verify_result(public_key_bytes(key), other)
