"""End-to-end task signatures: what a malicious proxy can try, and what it gets."""

from __future__ import annotations

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from transports import ErrorCode, JobSpec, Task, TaskRef, decode, encode, encode_value
from transports._signing import (
    DEFAULT_MAX_LIFETIME,
    MAX_PROOF_DEPTH,
    SignatureExpired,
    SignatureInvalid,
    TaskBeforeEpoch,
    TaskOutOfBounds,
    key_id_for,
    leaf_hash,
    merkle_root,
    public_key_bytes,
    sign_job,
    sign_job_spec,
    verify_task,
    verify_task_message,
)

NOW = 1_700_000_000.0


@pytest.fixture(scope="module")
def center_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def keys(center_key):
    return {key_id_for(center_key): public_key_bytes(center_key)}


def _job(center_key, n=5, action="exec.run", params=None, expires=NOW + 60, **times):
    fields = {"timeout": 30.0, "deadline": expires, "issued": NOW - 10} | times
    spec = JobSpec(
        job_id="job-1",
        action=action,
        params=msgspec.Raw(encode_value(params or {"cmd": "uptime"})),
        account="alice",
        **fields,
    )
    refs = [TaskRef(f"job-1-{i}", f"agent-{i}") for i in range(n)]
    return sign_job_spec(center_key, key_id_for(center_key), spec, refs, expires=expires)


def _task(spec, ref) -> Task:
    return Task(task_id=ref.task_id, job=spec, proof=ref.proof, index=ref.index)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 33, 1000])
def test_every_task_of_every_size_verifies(center_key, keys, n):
    spec, refs = _job(center_key, n)
    for ref in refs:
        verify_task(keys, spec, ref.task_id, ref.proof, ref.index, NOW, agent_id=ref.agent_id)


def test_verifies_after_the_wire(center_key, keys):
    """Encode → decode through the real codec keeps the signature valid (params verbatim)."""
    spec, refs = _job(center_key, 3, params={"cmd": "df -h", "env": {"A": "1"}})
    for ref in refs:
        got = decode(encode(_task(spec, ref)))
        assert isinstance(got, Task)
        verify_task_message(keys, got, NOW, agent_id=ref.agent_id)


def test_forged_signature(center_key, keys):
    spec, refs = _job(center_key)
    forged = msgspec.structs.replace(spec, signature=bytes(64))
    with pytest.raises(SignatureInvalid) as exc:
        verify_task(keys, forged, refs[0].task_id, refs[0].proof, 0, NOW, agent_id="agent-0")
    assert exc.value.code is ErrorCode.A010


def test_signed_by_another_key_under_the_right_key_id(center_key, keys):
    """A proxy holding its own key cannot sign in the center's name."""
    rogue = Ed25519PrivateKey.generate()
    spec = JobSpec(job_id="j", action="exec.run", params=msgspec.Raw(encode_value({"cmd": "reboot"})),
                   timeout=1, deadline=NOW + 9)
    signed, refs = sign_job_spec(rogue, key_id_for(center_key), spec, [TaskRef("t", "agent-0")],
                                 expires=NOW + 60)
    with pytest.raises(SignatureInvalid):
        verify_task(keys, signed, "t", refs[0].proof, 0, NOW, agent_id="agent-0")


@pytest.mark.parametrize(
    "change",
    [
        {"params": msgspec.Raw(encode_value({"cmd": "reboot"}))},
        {"action": "file.write"},
        {"job_id": "job-2"},
        {"account": "root"},
        {"timeout": 3600.0},
        {"deadline": NOW + 30},
        {"stream": True},
        {"issued": NOW - 5},
        {"expires": NOW + 10_000},
        {"nonce": b"\x00" * 16},
        {"key_id": "someone-else"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_altered_header_field(center_key, keys, change):
    spec, refs = _job(center_key)
    altered = msgspec.structs.replace(spec, **change)
    keys = dict(keys) | {"someone-else": next(iter(keys.values()))}
    with pytest.raises(SignatureInvalid) as exc:
        verify_task(keys, altered, refs[1].task_id, refs[1].proof, 1, NOW, agent_id="agent-1")
    assert exc.value.code is ErrorCode.A010


def test_swapped_task_id(center_key, keys):
    spec, refs = _job(center_key)
    with pytest.raises(SignatureInvalid):
        verify_task(keys, spec, "job-1-999", refs[1].proof, 1, NOW, agent_id="agent-1")
    # Another task's id with this task's proof is refused too.
    with pytest.raises(SignatureInvalid):
        verify_task(keys, spec, refs[2].task_id, refs[1].proof, 1, NOW, agent_id="agent-1")


def test_task_moved_to_another_host(center_key, keys):
    """Host 0's task, proof and all, delivered to host 1 is refused by host 1."""
    spec, refs = _job(center_key)
    with pytest.raises(SignatureInvalid):
        verify_task(keys, spec, refs[0].task_id, refs[0].proof, 0, NOW, agent_id="agent-1")


def test_wrong_proof(center_key, keys):
    spec, refs = _job(center_key, 8)
    ref = refs[3]
    bad = list(ref.proof)
    bad[1] = bytes(32)
    cases = [
        (bad, ref.index),
        (ref.proof[:-1], ref.index),
        (ref.proof + [bytes(32)], ref.index),
        (ref.proof, ref.index ^ 1),
        (ref.proof, -1),
        (ref.proof, 1 << 40),
        ([b"short"] * 3, ref.index),
        ([bytes(32)] * (MAX_PROOF_DEPTH + 1), 0),
    ]
    for proof, index in cases:
        with pytest.raises(SignatureInvalid):
            verify_task(keys, spec, ref.task_id, proof, index, NOW, agent_id=ref.agent_id)


def test_expired(center_key, keys):
    spec, refs = _job(center_key, expires=NOW - 1)
    with pytest.raises(SignatureExpired) as exc:
        verify_task(keys, spec, refs[0].task_id, refs[0].proof, 0, NOW, agent_id="agent-0")
    assert exc.value.code is ErrorCode.A011
    # The same task within the leeway passes.
    verify_task(keys, spec, refs[0].task_id, refs[0].proof, 0, NOW, agent_id="agent-0", leeway=5)


def test_unknown_key_id(center_key):
    spec, refs = _job(center_key)
    other = Ed25519PrivateKey.generate()
    with pytest.raises(SignatureInvalid, match="unknown signing key"):
        verify_task({key_id_for(other): public_key_bytes(other)}, spec, refs[0].task_id,
                    refs[0].proof, 0, NOW, agent_id="agent-0")


def test_unsigned(keys):
    spec = JobSpec(job_id="j", action="exec.run", params=msgspec.Raw(encode_value({})), timeout=1,
                   deadline=NOW)
    with pytest.raises(SignatureInvalid, match="not signed"):
        verify_task(keys, spec, "t", [], 0, NOW)


def test_malformed_configured_key(center_key):
    spec, refs = _job(center_key)
    with pytest.raises(SignatureInvalid):
        verify_task({key_id_for(center_key): b"xx"}, spec, refs[0].task_id, refs[0].proof, 0, NOW,
                    agent_id="agent-0")


def test_root_matches_independent_recomputation(center_key):
    """sign_job's root equals merkle_root over the same leaves; order matters."""
    ids = [f"t{i}" for i in range(11)]
    signed = sign_job(center_key, key_id="k", job_id="j", action="a", params=b"", account="", timeout=1,
                      deadline=NOW, stream=False, issued=NOW, expires=NOW, nonce=b"n", task_ids=ids)
    assert signed.root == merkle_root([leaf_hash(t) for t in ids])
    assert signed.root != merkle_root([leaf_hash(t) for t in reversed(ids)])
    assert all(len(p) == 4 for p in signed.proofs)  # 11 leaves pad to 16: depth 4


def test_bad_inputs_to_sign():
    key = Ed25519PrivateKey.generate()
    with pytest.raises(ValueError):
        sign_job(key, key_id="k", job_id="j", action="a", params=b"", account="", timeout=1, deadline=NOW,
                 stream=False, issued=NOW, expires=NOW, nonce=b"", task_ids=[])
    with pytest.raises(ValueError):
        sign_job(key, key_id="k", job_id="j", action="a", params=b"", account="", timeout=1, deadline=NOW,
                 stream=False, issued=NOW, expires=NOW, nonce=b"", task_ids=["a"], agent_ids=["x", "y"])


# --- what controls execution is signed, and sane --------------------------------------


def _v1_header(spec: JobSpec) -> bytes:
    """The old layout (no timeout, deadline, stream, issued), built independently."""
    import hashlib
    import struct

    def lp(b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + b

    return b"".join((
        lp(b"starling-job-v1"), lp(spec.job_id.encode()), lp(spec.action.encode()),
        lp(hashlib.sha256(bytes(spec.params)).digest()), lp(spec.account.encode()),
        struct.pack(">d", spec.expires), lp(spec.nonce), lp(spec.root), lp(spec.key_id.encode()),
    ))


def test_a_v1_signature_is_refused(center_key, keys):
    """A header signed in the old layout (timeout and deadline unsigned) does not verify."""
    spec, refs = _job(center_key)
    old = msgspec.structs.replace(spec, signature=center_key.sign(_v1_header(spec)))
    with pytest.raises(SignatureInvalid) as exc:
        verify_task(keys, old, refs[0].task_id, refs[0].proof, 0, NOW, agent_id="agent-0")
    assert exc.value.code is ErrorCode.A010


@pytest.mark.parametrize(
    ("times", "error", "code"),
    [
        ({"timeout": float("nan")}, TaskOutOfBounds, ErrorCode.A018),
        ({"timeout": float("inf")}, TaskOutOfBounds, ErrorCode.A018),
        ({"timeout": -1.0}, TaskOutOfBounds, ErrorCode.A018),
        ({"timeout": 8 * 86400.0}, TaskOutOfBounds, ErrorCode.A018),
        ({"issued": float("nan")}, TaskOutOfBounds, ErrorCode.A018),
        ({"deadline": NOW + 61}, TaskOutOfBounds, ErrorCode.A018),  # past the expiry
        ({"issued": NOW + 60 - DEFAULT_MAX_LIFETIME - 1}, TaskOutOfBounds, ErrorCode.A018),  # over-long life
        ({"issued": NOW + 61}, TaskOutOfBounds, ErrorCode.A018),  # issued after it expires
        ({"issued": NOW + 30}, TaskBeforeEpoch, ErrorCode.A019),  # from the future
        ({"issued": NOW - 3600}, TaskBeforeEpoch, ErrorCode.A019),  # before the epoch
    ],
    ids=["nan-timeout", "inf-timeout", "negative-timeout", "8-day-timeout", "nan-issued", "deadline-past-expiry",
         "lifetime-too-long", "issued-after-expiry", "issued-in-future", "issued-before-epoch"],
)
def test_signed_but_out_of_bounds(center_key, keys, times, error, code):
    """Even a genuine signature does not make a bad time acceptable."""
    spec, refs = _job(center_key, **times)
    with pytest.raises(error) as exc:
        verify_task(keys, spec, refs[0].task_id, refs[0].proof, 0, NOW, agent_id="agent-0", leeway=5,
                    epoch=NOW - 60)
    assert exc.value.code is code


def test_epoch_and_limits_are_honoured_with_leeway(center_key, keys):
    spec, refs = _job(center_key, issued=NOW - 100, timeout=600.0)
    ok = {"agent_id": "agent-0", "leeway": 5}
    verify_task(keys, spec, refs[0].task_id, refs[0].proof, 0, NOW, epoch=NOW - 100, **ok)
    verify_task(keys, spec, refs[0].task_id, refs[0].proof, 0, NOW, epoch=NOW - 96, **ok)  # within leeway
    with pytest.raises(TaskBeforeEpoch):
        verify_task(keys, spec, refs[0].task_id, refs[0].proof, 0, NOW, epoch=NOW - 90, **ok)
    with pytest.raises(TaskOutOfBounds, match="timeout"):
        verify_task(keys, spec, refs[0].task_id, refs[0].proof, 0, NOW, max_timeout=599, **ok)
    with pytest.raises(TaskOutOfBounds, match="lifetime"):
        verify_task(keys, spec, refs[0].task_id, refs[0].proof, 0, NOW, max_lifetime=159, **ok)


def test_resigning_is_deterministic(center_key):
    """The center signs again on re-dispatch: with the stored issued time, identically."""
    spec, _ = _job(center_key)
    bare = msgspec.structs.replace(spec, signature=b"", issued=0.0)
    a, _ = sign_job_spec(center_key, spec.key_id, bare, [TaskRef("t", "a")], expires=NOW + 60, nonce=b"n", issued=NOW)
    b, _ = sign_job_spec(center_key, spec.key_id, bare, [TaskRef("t", "a")], expires=NOW + 60, nonce=b"n", issued=NOW)
    assert (a.signature, a.issued) == (b.signature, NOW)
