"""End-to-end task signatures: one Ed25519 signature per job, a Merkle proof per task.

The center signs a job once, whatever its size; every task carries a short
inclusion proof of its ``(task_id, agent_id)`` leaf under the signed Merkle
root. The agent checks the proof and the signature before running anything,
so a proxy (which relays but never holds the center's private key) cannot
inject a task, alter one, move one to another host, or replay one past its
expiry.

What is signed (the *job header*, see :func:`header_bytes`)::

    "starling-job-v2" | job_id | action | sha256(params bytes) | account
                      | timeout | deadline | stream | issued | expires
                      | nonce | merkle root | key_id

Every field of :class:`~transports.JobSpec` that changes how, whether or as
whom a task runs is in the header: a proxy that stretches a timeout, moves a
deadline, turns streaming on or changes the account breaks the signature.
Variable-length fields are length-prefixed and numbers have a fixed width, so
no two different headers encode alike. Headers of the old ``starling-job-v1``
layout (without timeout, deadline, stream and issued) are refused: they no
longer verify, since the agent and the center ship together.

Beyond the signature, :func:`verify_task` checks that the signed numbers are
sane (:func:`check_task_window`): finite, not expired, issued neither in the
future nor before the agent's *epoch* (the time its journal was created, so a
task captured before the journal was lost cannot be replayed), a lifetime
``expires - issued`` and a timeout within the agent's maxima.

The Merkle tree::

    leaf(task_id, agent_id) = SHA-256(0x00 | len | task_id | len | agent_id)
    node(left, right)       = SHA-256(0x01 | left | right)
    empty leaf              = SHA-256(0x02)

The leaves are padded with empty leaves up to a power of two, so a proof is
exactly ``depth`` sibling hashes and the leaf's index alone says, level by
level, whether the sibling sits left or right (no tree size needed, and no
odd-node duplication that would let two leaf lists share a root). Padding is
computed, not stored: an empty subtree of height ``h`` has a fixed hash.

Errors (each carries its catalogue code)::

    StarlingError
    ├── SignatureInvalid     A010  unsigned, unknown key, altered, forged, wrong proof
    ├── SignatureExpired     A011  the signature's expiry has passed
    ├── TaskOutOfBounds      A018  a signed timeout, deadline or lifetime out of range
    └── TaskBeforeEpoch      A019  issued before the agent's epoch, or in the future

The agent must still refuse a task id it has seen before (its journal does
that); the expiry bounds how long the journal has to remember, and the epoch
covers the journal's loss.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

import msgspec

# Ed25519 through PyNaCl (libsodium via cffi): the agent verifies and signs with it and
# never loads `cryptography`'s Rust library (~7 MB resident) for it. Keys made by
# `cryptography` (the center's PEM keys, see center/_pki.py) are accepted too, by their
# raw bytes, so nothing here imports it.
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from ._codes import ErrorCode
from ._errors import StarlingError
from ._messages import JobSpec, Result, Task, TaskRef

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

#: A private key: PyNaCl's, or `cryptography`'s (used by its raw 32-byte seed).
PrivateKey: TypeAlias = "SigningKey | Ed25519PrivateKey"
#: A public key: PyNaCl's, `cryptography`'s, or the raw 32 bytes.
PublicKey: TypeAlias = "VerifyKey | Ed25519PublicKey | bytes"

__all__ = [
    "DEFAULT_MAX_LIFETIME",
    "DEFAULT_MAX_TIMEOUT",
    "HELLO_WINDOW",
    "MAX_PROOF_DEPTH",
    "PrivateKey",
    "PublicKey",
    "SignatureExpired",
    "SignatureInvalid",
    "SignedJob",
    "TaskBeforeEpoch",
    "TaskOutOfBounds",
    "check_task_window",
    "enroll_message",
    "header_bytes",
    "hello_message",
    "key_id_for",
    "leaf_hash",
    "merkle_root",
    "new_nonce",
    "new_private_key",
    "public_key_bytes",
    "result_message",
    "sign_enroll",
    "sign_hello",
    "sign_job",
    "sign_job_spec",
    "sign_result",
    "signing_key",
    "verify_enroll",
    "verify_hello",
    "verify_result",
    "verify_task",
    "verify_task_message",
]

_DOMAIN = b"starling-job-v2"
_LEAF = b"\x00"
_NODE = b"\x01"
_EMPTY = hashlib.sha256(b"\x02").digest()
_LEN = struct.Struct(">I")
_FLOAT = struct.Struct(">d")

#: The longest timeout an agent accepts by default: 7 days, the center's own cap.
DEFAULT_MAX_TIMEOUT = 7 * 86400.0
#: The longest ``expires - issued`` an agent accepts by default: the longest
#: timeout, plus the center's approval window (24 h) a held job may wait in,
#: plus an hour for dispatch grace and clock skew.
DEFAULT_MAX_LIFETIME = DEFAULT_MAX_TIMEOUT + 86400.0 + 3600.0

MAX_PROOF_DEPTH = 40
"""A proof longer than this is refused: 2**40 tasks in one job is not a real job,
and the bound keeps a hostile proof from costing the agent more than a few µs."""

# Hash of an all-empty subtree of each height; _EMPTY_AT[0] is the empty leaf.
_EMPTY_AT: list[bytes] = [_EMPTY]
for _ in range(MAX_PROOF_DEPTH):
    _EMPTY_AT.append(hashlib.sha256(_NODE + _EMPTY_AT[-1] + _EMPTY_AT[-1]).digest())


class SignatureInvalid(StarlingError):
    """The task is unsigned, signed by an unknown key, altered, or its proof is wrong."""

    code = ErrorCode.A010


class SignatureExpired(StarlingError):
    """The task's signature was valid but its expiry has passed."""

    code = ErrorCode.A011


class TaskOutOfBounds(StarlingError):
    """The task is signed, but its timeout, deadline or lifetime is not a sane number."""

    code = ErrorCode.A018


class TaskBeforeEpoch(StarlingError):
    """The task was issued before this agent's epoch (its journal's creation), or in the future."""

    code = ErrorCode.A019


class SignedJob(NamedTuple):
    """What :func:`sign_job` returns; ``proofs[i]`` belongs to task ``i``."""

    root: bytes
    signature: bytes
    proofs: list[list[bytes]]


def _lp(data: bytes) -> bytes:
    return _LEN.pack(len(data)) + data


def leaf_hash(task_id: str, agent_id: str = "") -> bytes:
    """Hash of one leaf: the task id bound to the host that must run it.

    :param task_id: the task's id.
    :param agent_id: the agent the task is for; binding it stops a proxy from
        handing host A's task to host B. Empty when the center does not bind hosts.
    """
    return hashlib.sha256(_LEAF + _lp(task_id.encode()) + _lp(agent_id.encode())).digest()


def header_bytes(
    *,
    job_id: str,
    action: str,
    params: bytes,
    account: str,
    timeout: float,
    deadline: float,
    stream: bool,
    issued: float,
    expires: float,
    nonce: bytes,
    root: bytes,
    key_id: str,
) -> bytes:
    """The canonical bytes the center signs for one job.

    :param params: the raw MessagePack bytes of the action's params, exactly as sent.
    :param timeout: seconds the action may run (0: the action's declared default).
    :param deadline: POSIX time after which the task may no longer start.
    :param stream: whether the agent streams the task's output.
    :param issued: POSIX time the center created the job.
    :param expires: POSIX time after which no agent may start the job's tasks.
    :param nonce: random bytes, unique per job.
    """
    return b"".join(
        (
            _lp(_DOMAIN),
            _lp(job_id.encode()),
            _lp(action.encode()),
            _lp(hashlib.sha256(params).digest()),
            _lp(account.encode()),
            _FLOAT.pack(float(timeout)),
            _FLOAT.pack(float(deadline)),
            b"\x01" if stream else b"\x00",
            _FLOAT.pack(float(issued)),
            _FLOAT.pack(float(expires)),
            _lp(nonce),
            _lp(root),
            _lp(key_id.encode()),
        )
    )


def _build_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """All levels of the padded tree, leaves first; padding is implicit."""
    levels = [leaves]
    height = 0
    while len(levels[-1]) > 1:
        level = levels[-1]
        nxt = []
        for i in range(0, len(level), 2):
            right = level[i + 1] if i + 1 < len(level) else _EMPTY_AT[height]
            nxt.append(hashlib.sha256(_NODE + level[i] + right).digest())
        levels.append(nxt)
        height += 1
    return levels


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root of the padded tree over ``leaves`` (see the module docstring)."""
    if not leaves:
        raise ValueError("a job needs at least one task")
    return _build_levels(list(leaves))[-1][0]


def _root_from_proof(leaf: bytes, proof: Sequence[bytes], index: int) -> bytes:
    node = leaf
    for sibling in proof:
        if index & 1:
            node = hashlib.sha256(_NODE + sibling + node).digest()
        else:
            node = hashlib.sha256(_NODE + node + sibling).digest()
        index >>= 1
    return node


def new_nonce() -> bytes:
    """16 random bytes for a job's nonce."""
    return os.urandom(16)


def new_private_key() -> SigningKey:
    """A fresh Ed25519 private key."""
    return SigningKey.generate()


#: `cryptography` keys already converted (by identity; the key is held so its id stays its own).
_converted: dict[int, tuple[Any, SigningKey]] = {}


def signing_key(key: PrivateKey) -> SigningKey:
    """``key`` as a PyNaCl :class:`~nacl.signing.SigningKey`.

    A `cryptography` key is converted once: the conversion derives the public key, as
    dear as a signature, and the center signs with one key for every credential it issues.
    """
    if isinstance(key, SigningKey):
        return key
    hit = _converted.get(id(key))
    if hit is not None and hit[0] is key:
        return hit[1]
    # A `cryptography` Ed25519PrivateKey: its raw seed is the same 32 bytes.
    converted = SigningKey(key.private_bytes_raw())
    if len(_converted) >= 16:
        _converted.clear()
    _converted[id(key)] = (key, converted)
    return converted


def _verify_key(key: PublicKey) -> VerifyKey:
    if isinstance(key, VerifyKey):
        return key
    raw = key if isinstance(key, bytes | bytearray | memoryview) else key.public_bytes_raw()
    try:
        return VerifyKey(bytes(raw))
    except (ValueError, TypeError) as exc:
        raise SignatureInvalid("the configured public key is malformed") from exc


def _sign(key: PrivateKey, message: bytes) -> bytes:
    return signing_key(key).sign(message).signature


def _verify(key: PublicKey, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is ``key``'s over ``message``; False for any mismatch."""
    try:
        _verify_key(key).verify(message, bytes(signature))
    except (BadSignatureError, ValueError, TypeError):
        # ValueError/TypeError: not 64 bytes; libsodium never sees it.
        return False
    return True


def public_key_bytes(key: PrivateKey | PublicKey) -> bytes:
    """The raw 32-byte public key (what ``Welcome.center_key`` carries)."""
    if isinstance(key, SigningKey):
        return bytes(key.verify_key)
    if isinstance(key, VerifyKey):
        return bytes(key)
    if isinstance(key, bytes):
        return key
    if hasattr(key, "public_key"):  # a `cryptography` private key
        return bytes(key.public_key().public_bytes_raw())
    return bytes(key.public_bytes_raw())


def key_id_for(key: PrivateKey | PublicKey) -> str:
    """A short stable id for a signing key: 16 hex digits of SHA-256 of the public key."""
    return hashlib.sha256(public_key_bytes(key)).hexdigest()[:16]


def sign_job(
    private_key: PrivateKey,
    *,
    key_id: str,
    job_id: str,
    action: str,
    params: bytes,
    account: str,
    timeout: float,
    deadline: float,
    stream: bool,
    issued: float,
    expires: float,
    nonce: bytes,
    task_ids: Sequence[str],
    agent_ids: Sequence[str] | None = None,
) -> SignedJob:
    """Sign one job: build the Merkle tree over its tasks and sign the header once.

    :param private_key: the center's Ed25519 key.
    :param key_id: the id agents know the matching public key by.
    :param params: the raw MessagePack params bytes as they go on the wire.
    :param timeout: :param deadline: :param stream: :param issued: as in
        :func:`header_bytes`; every one of them is signed.
    :param task_ids: one id per task, in the order the proofs are returned.
    :param agent_ids: the host of each task (same order); strongly advised, so a
        task cannot be replayed onto another host of the same job.
    :returns: the root, the signature, and one proof per task (its index is its
        position in ``task_ids``).
    """
    if agent_ids is None:
        agent_ids = [""] * len(task_ids)
    if len(agent_ids) != len(task_ids):
        raise ValueError("task_ids and agent_ids differ in length")
    leaves = [leaf_hash(t, a) for t, a in zip(task_ids, agent_ids, strict=True)]
    if not leaves:
        raise ValueError("a job needs at least one task")
    levels = _build_levels(leaves)
    root = levels[-1][0]
    depth = len(levels) - 1
    if depth > MAX_PROOF_DEPTH:
        raise ValueError("too many tasks for one job")
    proofs: list[list[bytes]] = []
    for index in range(len(leaves)):
        proof = []
        i = index
        for height in range(depth):
            level = levels[height]
            sib = i ^ 1
            proof.append(level[sib] if sib < len(level) else _EMPTY_AT[height])
            i >>= 1
        proofs.append(proof)
    message = header_bytes(
        job_id=job_id,
        action=action,
        params=params,
        account=account,
        timeout=timeout,
        deadline=deadline,
        stream=stream,
        issued=issued,
        expires=expires,
        nonce=nonce,
        root=root,
        key_id=key_id,
    )
    return SignedJob(root, _sign(private_key, message), proofs)


def sign_job_spec(
    private_key: PrivateKey,
    key_id: str,
    spec: JobSpec,
    tasks: Sequence[TaskRef],
    *,
    expires: float,
    nonce: bytes | None = None,
    issued: float | None = None,
) -> tuple[JobSpec, list[TaskRef]]:
    """Sign a :class:`JobSpec` and its :class:`TaskRef` list, returning filled-in copies.

    The leaves bind each ``TaskRef.task_id`` to its ``TaskRef.agent_id``.

    :param issued: when the job was created; default ``spec.issued``, or now
        when that is unset. Pass a stored time to sign a job again identically.
    """
    nonce = new_nonce() if nonce is None else nonce
    if issued is None:
        issued = spec.issued or time.time()
    signed = sign_job(
        private_key,
        key_id=key_id,
        job_id=spec.job_id,
        action=spec.action,
        params=bytes(spec.params),
        account=spec.account,
        timeout=spec.timeout,
        deadline=spec.deadline,
        stream=spec.stream,
        issued=issued,
        expires=expires,
        nonce=nonce,
        task_ids=[t.task_id for t in tasks],
        agent_ids=[t.agent_id for t in tasks],
    )
    new_spec = msgspec.structs.replace(
        spec,
        key_id=key_id,
        root=signed.root,
        signature=signed.signature,
        issued=float(issued),
        expires=float(expires),
        nonce=nonce,
    )
    refs = [
        msgspec.structs.replace(t, proof=proof, index=i)
        for i, (t, proof) in enumerate(zip(tasks, signed.proofs, strict=True))
    ]
    return new_spec, refs


def check_task_window(
    spec: JobSpec,
    now: float,
    *,
    leeway: float = 0.0,
    epoch: float = 0.0,
    max_lifetime: float = DEFAULT_MAX_LIFETIME,
    max_timeout: float = DEFAULT_MAX_TIMEOUT,
) -> None:
    """Check the signed times of a job header against this agent's clock and limits.

    Call it only after the signature verified (:func:`verify_task` does), so a
    forged header is reported as forged, not as out of bounds.

    :param now: the current POSIX time.
    :param leeway: seconds of clock skew tolerated on each time check.
    :param epoch: POSIX time before which this agent accepts no task (its
        journal's creation); 0 disables the check.
    :param max_lifetime: the longest ``expires - issued`` accepted.
    :param max_timeout: the longest timeout accepted.
    :raises TaskOutOfBounds: (A018) a time is not finite, the timeout is negative
        or above ``max_timeout``, the deadline lies past the expiry, or the
        lifetime is above ``max_lifetime``.
    :raises SignatureExpired: (A011) ``now`` is past the expiry.
    :raises TaskBeforeEpoch: (A019) issued before ``epoch`` or after ``now``
        (each with ``leeway``).
    """
    numbers = {"timeout": spec.timeout, "deadline": spec.deadline, "issued": spec.issued, "expires": spec.expires}
    for name, value in numbers.items():
        if not math.isfinite(value):
            raise TaskOutOfBounds(f"the task's {name} is not a finite number ({value!r})")
    if not 0 <= spec.timeout <= max_timeout:
        raise TaskOutOfBounds(f"the task's timeout {spec.timeout:g}s is outside [0, {max_timeout:g}]s")
    if spec.deadline > spec.expires:
        raise TaskOutOfBounds(f"the task's deadline {spec.deadline:.0f} lies past its expiry {spec.expires:.0f}")
    lifetime = spec.expires - spec.issued
    if not 0 <= lifetime <= max_lifetime:
        raise TaskOutOfBounds(
            f"the task's lifetime (expires - issued) of {lifetime:.0f}s is outside [0, {max_lifetime:.0f}]s"
        )
    if not now <= spec.expires + leeway:
        raise SignatureExpired(f"the task expired at {spec.expires:.0f} (now {now:.0f})")
    if spec.issued > now + leeway:
        raise TaskBeforeEpoch(f"the task was issued in the future ({spec.issued:.0f}, now {now:.0f}); check clocks")
    if epoch and spec.issued < epoch - leeway:
        raise TaskBeforeEpoch(
            f"the task was issued at {spec.issued:.0f}, before this agent's epoch {epoch:.0f} "
            "(its journal was created afresh): a replay, or a task from before a reinstall; not run"
        )


def verify_task(
    public_keys: Mapping[str, PublicKey],
    job_header: JobSpec,
    task_id: str,
    proof: Sequence[bytes],
    index: int,
    now: float,
    *,
    agent_id: str = "",
    leeway: float = 0.0,
    epoch: float = 0.0,
    max_lifetime: float = DEFAULT_MAX_LIFETIME,
    max_timeout: float = DEFAULT_MAX_TIMEOUT,
) -> None:
    """Check that the center signed this task for this host and that it may run now.

    :param public_keys: the center keys this agent trusts, by key id.
    :param job_header: the task's :class:`JobSpec` as received.
    :param task_id: the task's id as received.
    :param proof: the task's inclusion proof; :param index: its leaf index.
    :param now: the current POSIX time.
    :param agent_id: this agent's id (must equal what the center bound the task to).
    :param leeway: seconds of clock skew tolerated on the time checks.
    :param epoch: :param max_lifetime: :param max_timeout: see :func:`check_task_window`.
    :raises SignatureInvalid: (A010) unsigned, unknown key, or anything altered.
    :raises SignatureExpired: (A011) valid, but ``now`` is past the expiry.
    :raises TaskOutOfBounds: (A018) valid, but a signed time is out of range.
    :raises TaskBeforeEpoch: (A019) valid, but issued before the epoch or in the future.
    """
    spec = job_header
    if not spec.signature or not spec.key_id or not spec.root:
        raise SignatureInvalid("the task is not signed")
    key = public_keys.get(spec.key_id)
    if key is None:
        raise SignatureInvalid(f"unknown signing key id {spec.key_id!r}")
    if len(proof) > MAX_PROOF_DEPTH or index < 0 or index >> len(proof):
        raise SignatureInvalid("malformed inclusion proof")
    if any(len(p) != 32 for p in proof):
        raise SignatureInvalid("malformed inclusion proof")
    if _root_from_proof(leaf_hash(task_id, agent_id), proof, index) != spec.root:
        raise SignatureInvalid("the task is not part of the signed job (bad proof or altered id)")
    message = header_bytes(
        job_id=spec.job_id,
        action=spec.action,
        params=bytes(spec.params),
        account=spec.account,
        timeout=spec.timeout,
        deadline=spec.deadline,
        stream=spec.stream,
        issued=spec.issued,
        expires=spec.expires,
        nonce=spec.nonce,
        root=spec.root,
        key_id=spec.key_id,
    )
    if not _verify(key, spec.signature, message):
        raise SignatureInvalid("the job signature does not match its header")
    # Checked after the signature, so a forged time is reported as forged.
    check_task_window(spec, now, leeway=leeway, epoch=epoch, max_lifetime=max_lifetime, max_timeout=max_timeout)


def verify_task_message(
    public_keys: Mapping[str, PublicKey],
    task: Task,
    now: float,
    *,
    agent_id: str = "",
    leeway: float = 0.0,
    epoch: float = 0.0,
    max_lifetime: float = DEFAULT_MAX_LIFETIME,
    max_timeout: float = DEFAULT_MAX_TIMEOUT,
) -> None:
    """:func:`verify_task` for a received :class:`Task` message."""
    verify_task(
        public_keys,
        task.job,
        task.task_id,
        task.proof,
        task.index,
        now,
        agent_id=agent_id,
        leeway=leeway,
        epoch=epoch,
        max_lifetime=max_lifetime,
        max_timeout=max_timeout,
    )


# --- proof of possession at hello --------------------------------------------------

#: How far a hello's timestamp may be from the proxy's clock.
HELLO_WINDOW = 300.0


def hello_message(agent_id: str, ts: float) -> bytes:
    """What an agent signs in its hello: its id and the time, so a credential
    copied off a host (or out of a log) is useless without the agent's key."""
    return b"starling-hello-v1" + _lp(agent_id.encode()) + _lp(f"{ts:.3f}".encode())


def sign_hello(private_key: PrivateKey, agent_id: str, ts: float) -> bytes:
    return _sign(private_key, hello_message(agent_id, ts))


def verify_hello(public_key: bytes, agent_id: str, ts: float, proof: bytes, now: float) -> None:
    """:raises SignatureInvalid: the proof is missing, wrong, or too old/new."""
    if abs(now - ts) > HELLO_WINDOW:
        raise SignatureInvalid(f"hello timestamp {ts:.0f} is outside the {HELLO_WINDOW:.0f}s window")
    if not _verify(public_key, proof, hello_message(agent_id, ts)):
        raise SignatureInvalid("hello proof does not match the credential's key")


def enroll_message(public_key: bytes, identity: dict[str, Any], ts: float) -> bytes:
    """What an agent signs when it enrolls: its key, every identity field (sorted
    JSON, so both sides build the same bytes) and the time. Whoever relays the
    enrollment (a proxy) can neither bind another key to it nor change the
    identity, and a copy is useless outside :data:`HELLO_WINDOW`."""
    doc = msgspec.json.encode(identity, order="sorted")
    return b"starling-enroll-v1" + _lp(bytes(public_key)) + _lp(doc) + _lp(f"{ts:.3f}".encode())


def sign_enroll(private_key: PrivateKey, public_key: bytes, identity: dict[str, Any], ts: float) -> bytes:
    return _sign(private_key, enroll_message(public_key, identity, ts))


def verify_enroll(public_key: bytes, identity: dict[str, Any], ts: float, proof: bytes, now: float) -> None:
    """:raises SignatureInvalid: the proof is missing, not by ``public_key``, or too old/new."""
    if abs(now - ts) > HELLO_WINDOW:
        raise SignatureInvalid(f"enrollment timestamp {ts:.0f} is outside the {HELLO_WINDOW:.0f}s window")
    if not _verify(public_key, proof, enroll_message(public_key, identity, ts)):
        raise SignatureInvalid("enrollment proof was not made with the enrolled public key")


# --- result signatures -----------------------------------------------------------


def result_message(result: Result) -> bytes:
    """What an agent signs about a result: everything the caller reads from it."""
    digest = hashlib.sha256
    return (
        b"starling-result-v1"
        + _lp(result.task_id.encode())
        + _lp(result.state.encode())
        + _lp(result.code.encode())
        + _lp(result.message.encode())
        + _lp(b"" if result.exit_code is None else str(result.exit_code).encode())
        + digest(result.stdout.encode()).digest()
        + digest(result.stderr.encode()).digest()
        + digest(bytes(result.data)).digest()
        + _lp(b"1" if result.truncated else b"0")
    )


def sign_result(private_key: PrivateKey, result: Result) -> Result:
    """The result with the agent's signature attached."""
    return msgspec.structs.replace(result, sig=_sign(private_key, result_message(result)))


def verify_result(public_key: bytes, result: Result) -> None:
    """:raises SignatureInvalid: unsigned, or altered after the agent signed it."""
    if not result.sig:
        raise SignatureInvalid("the result is not signed by its agent")
    if not _verify(public_key, result.sig, result_message(result)):
        raise SignatureInvalid("the result was altered after its agent signed it")
