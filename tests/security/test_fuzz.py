"""Fuzzing the parsers that face untrusted input: they may refuse, never crash.

* the frame decoder and the stream frame reader: only ``ProtocolError`` subclasses;
* the API request verifier: only ``RequestRefused`` (C007/C008), never a traceback;
* the risk analyser: always a verdict, never an internal error;
* the task signature verifier: only ``SignatureInvalid``/``SignatureExpired``.
"""

from __future__ import annotations

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from center.security import (
    HEADER_KEY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MemoryKeyStore,
    MemoryNonceStore,
    RequestRefused,
    check_command,
    sign_request,
    verify_request,
)
from transports import (
    ErrorCode,
    FrameReader,
    JobSpec,
    ProtocolError,
    TaskRef,
    decode,
    encode,
    encode_value,
)
from transports._messages import Ping
from transports._signing import (
    SignatureExpired,
    SignatureInvalid,
    TaskBeforeEpoch,
    TaskOutOfBounds,
    key_id_for,
    public_key_bytes,
    sign_job_spec,
    verify_task,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = 1_700_000_000.0


# --- the wire ---------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=2048))
def test_decode_never_raises_anything_but_protocol_error(data):
    try:
        decode(data)
    except ProtocolError as exc:
        assert exc.code in (ErrorCode.P003, ErrorCode.P004, ErrorCode.P008)


def _msgpack_like():
    """Bytes that are valid MessagePack maps with a message tag, to get past the first byte."""
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(),
                        st.text(max_size=20), st.binary(max_size=20))
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
    tags = st.sampled_from(["hello", "task", "dispatch", "result", "ping", "stream_data", "nope", ""])
    return st.builds(lambda t, d: msgspec.msgpack.encode({"t": t} | d), tags,
                     st.dictionaries(st.text(max_size=10), values, max_size=6))


@FUZZ
@given(_msgpack_like())
def test_decode_structured_garbage(data):
    try:
        decode(data)
    except ProtocolError:
        pass


@FUZZ
@given(st.lists(st.binary(max_size=64), max_size=20), st.integers(16, 4096))
def test_frame_reader_never_raises_anything_but_protocol_error(chunks, max_frame):
    reader = FrameReader(max_frame=max_frame)
    try:
        for chunk in chunks:
            for body in reader.feed(chunk):
                assert len(body) <= max_frame
                try:
                    decode(body)
                except ProtocolError:
                    pass
    except ProtocolError:
        pass


@FUZZ
@given(st.integers(0, 50), st.binary(max_size=40))
def test_frame_reader_split_anywhere_gives_back_the_frames(cut, noise):
    wire = b"".join(len(encode(Ping(seq=i))).to_bytes(4, "big") + encode(Ping(seq=i)) for i in range(3))
    reader = FrameReader()
    cut = min(cut, len(wire))
    bodies = reader.feed(wire[:cut]) + reader.feed(wire[cut:])
    assert [decode(b) for b in bodies] == [Ping(seq=i) for i in range(3)]
    try:
        reader.feed(noise)
    except ProtocolError:
        pass


# --- the API request verifier -----------------------------------------------------------

SECRET = b"fuzz-secret"
KEYS = MemoryKeyStore({"alice": SECRET})
header_names = st.sampled_from([HEADER_KEY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE,
                                HEADER_KEY.lower(), "Content-Type", "X-Other"])
header_values = st.one_of(st.text(max_size=80), st.sampled_from(["alice", "0" * 64, str(int(NOW)),
                                                                  "A" * 20, "-1", "1e9"]))


@FUZZ
@given(
    st.lists(st.tuples(st.one_of(header_names, st.text(max_size=20)), header_values), max_size=8),
    st.binary(max_size=200),
    st.text(max_size=10),
    st.text(max_size=60),
)
def test_verify_request_only_refuses(headers, body, method, url):
    try:
        verify_request(method, url, headers, body, keys=KEYS, nonces=MemoryNonceStore(), now=NOW)
    except RequestRefused as exc:
        assert exc.code in (ErrorCode.C007, ErrorCode.C008)


@FUZZ
@given(st.sampled_from([HEADER_KEY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE]),
       st.text(max_size=80), st.binary(max_size=64), st.text(max_size=40))
def test_verify_request_with_one_field_mutated(field, value, body, path):
    headers = sign_request("alice", SECRET, "POST", "/api/v1/jobs?x=1", b"{}", now=NOW)
    mutated = headers | {field: value}
    try:
        verify_request("POST", "/api/v1/jobs?x=1", mutated, b"{}", keys=KEYS,
                       nonces=MemoryNonceStore(), now=NOW)
    except RequestRefused as exc:
        assert exc.code in (ErrorCode.C007, ErrorCode.C008)
    else:
        assert mutated == headers  # only the untouched request may pass
    # Any other path or body with the original signature is refused.
    if (path, body) != ("/api/v1/jobs?x=1", b"{}"):
        try:
            verify_request("POST", path, headers, body, keys=KEYS, nonces=MemoryNonceStore(), now=NOW)
        except RequestRefused:
            pass
        else:
            from center.security._apiauth import canonical_path, canonical_query

            p, _, q = path.partition("?")
            assert (canonical_path(p), canonical_query(q), body) == ("/api/v1/jobs", "x=1", b"{}")


# --- the risk analyser ------------------------------------------------------------------

_TOKENS = list("abcrmfo-/ $(){}[]'\"`\\|&;<>*?=!#~\n\t") + [
    "rm", "-rf", "sh -c", "eval", "$(", "<<EOF\n", "EOF\n", "case", "esac", "in", "))", "$((",
    "[[", "]]", "function", "for", "do", "done", "base64 -d", "xargs", "${", "}", "IFS", "alias",
    "$'\\x72'", "reboot", "<(", "=(", "\\\n",
]  # fmt: skip
shellish = st.lists(st.sampled_from(_TOKENS), max_size=40).map("".join)


@FUZZ
@given(st.one_of(st.text(max_size=120), shellish))
def test_risk_analyser_always_answers(text):
    verdict = check_command(text)
    assert verdict.verdict in ("allow", "warn", "approve", "block")
    assert verdict.rule != "parse.analysis-error", f"analyser bug on {text!r}"


# --- the task signature verifier --------------------------------------------------------

_KEY = Ed25519PrivateKey.generate()
_SPEC, _REFS = sign_job_spec(
    _KEY, key_id_for(_KEY),
    JobSpec(job_id="j", action="exec.run", params=msgspec.Raw(encode_value({"cmd": "uptime"})),
            timeout=1.0, deadline=NOW + 60, issued=NOW - 10),
    [TaskRef(f"t{i}", f"a{i}") for i in range(5)], expires=NOW + 60,
)


@FUZZ
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "job_id": st.text(max_size=8),
            "action": st.text(max_size=8),
            "params": st.binary(max_size=16).map(msgspec.Raw),
            "account": st.text(max_size=8),
            "key_id": st.one_of(st.text(max_size=16), st.just(key_id_for(_KEY))),
            "root": st.binary(max_size=40),
            "signature": st.binary(max_size=70),
            "expires": st.floats(allow_nan=True),
            "timeout": st.floats(allow_nan=True),
            "deadline": st.floats(allow_nan=True),
            "issued": st.floats(allow_nan=True),
            "stream": st.booleans(),
            "nonce": st.binary(max_size=20),
        },
    ),
    st.text(max_size=8),
)
def test_signature_verifier_only_refuses_tampered_headers(change, task_id):
    spec = msgspec.structs.replace(_SPEC, **change)
    ref = _REFS[0]
    keys = {key_id_for(_KEY): public_key_bytes(_KEY)}
    try:
        verify_task(keys, spec, task_id or ref.task_id, ref.proof, ref.index, NOW, agent_id=ref.agent_id)
    except (SignatureInvalid, SignatureExpired, TaskOutOfBounds, TaskBeforeEpoch):
        pass
    else:
        assert all(getattr(spec, k) == getattr(_SPEC, k) for k in change)


@FUZZ
@given(st.integers(0, 4), st.lists(st.binary(min_size=0, max_size=40), max_size=6), st.integers(-5, 64),
       st.text(max_size=12))
def test_signature_verifier_with_forged_proofs(which, proof, index, task_id):
    ref = _REFS[which]
    keys = {key_id_for(_KEY): public_key_bytes(_KEY)}
    genuine = (task_id, list(proof), index) == (ref.task_id, ref.proof, ref.index)
    try:
        verify_task(keys, _SPEC, task_id, proof, index, NOW, agent_id=ref.agent_id)
    except SignatureInvalid:
        assert not genuine
    else:
        assert task_id == ref.task_id and index == ref.index
