"""The file channel's parts in one process: the proxy's LRU chunk cache
(eviction, coalesced misses, refresh), the center's chunk store (verification,
missing), the `paths` scope, the rate limit, the wire messages, and a manifest
altered after signing (A010)."""

from __future__ import annotations

import hashlib
import os
import time

import msgspec
import pytest
import trio
import trio.testing
from cryptography.hazmat.primitives.asymmetric import ed25519

from center._files import CenterFiles
from center._pathscope import check_paths
from center.proxy._files import ChunkCache
from transports import (
    ChunkAck,
    ChunkData,
    ChunkGet,
    ChunkPut,
    ErrorCode,
    JobSpec,
    RateLimit,
    StarlingError,
    Task,
    TaskRef,
    decode,
    encode,
    encode_value,
)
from transports._signing import key_id_for, sign_job_spec, verify_task_message


def _chunk(n: int) -> tuple[str, bytes]:
    data = os.urandom(n)
    return hashlib.sha256(data).hexdigest(), data


async def test_cache_evicts_least_recently_used(tmp_path):
    cache = ChunkCache(tmp_path / "c", max_bytes=3000)
    chunks = [_chunk(1000) for _ in range(4)]
    store = dict(chunks)
    fetched: list[str] = []

    async def fetch(d: str) -> bytes:
        fetched.append(d)
        return store[d]

    for d, _ in chunks[:3]:
        await cache.get(d, fetch)
    await cache.get(chunks[0][0], fetch)  # touch the first: the second is now the oldest
    await cache.get(chunks[3][0], fetch)
    assert cache.size <= 3000
    assert sorted(os.listdir(tmp_path / "c")) == sorted([chunks[0][0], chunks[2][0], chunks[3][0]])
    assert cache.statistics["evicted"] == 1 and fetched.count(chunks[0][0]) == 1
    # A restarted proxy finds what it cached.
    again = ChunkCache(tmp_path / "c", max_bytes=3000)
    assert again.size == 3000 and await again.get(chunks[2][0], fetch) == store[chunks[2][0]]
    assert fetched.count(chunks[2][0]) == 1


async def test_cache_coalesces_concurrent_misses_and_refreshes(tmp_path):
    cache = ChunkCache(tmp_path / "c", max_bytes=10**6)
    digest, data = _chunk(5000)
    calls = 0
    release = trio.Event()

    async def slow_fetch(d: str) -> bytes:
        nonlocal calls
        calls += 1
        await release.wait()
        return data

    got: list[bytes] = []

    async def ask() -> None:
        got.append(await cache.get(digest, slow_fetch))

    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(ask)
        await trio.testing.wait_all_tasks_blocked()
        release.set()
    assert calls == 1 and got == [data] * 20 and cache.statistics["coalesced"] == 19
    # A corrupt copy reported by an agent: refresh drops it and fetches anew.
    (tmp_path / "c" / digest).write_bytes(b"rotten")
    assert await cache.get(digest, slow_fetch) == b"rotten"
    assert await cache.get(digest, slow_fetch, refresh=True) == data and calls == 2


async def test_cache_fetch_failure_reaches_every_waiter(tmp_path):
    cache = ChunkCache(tmp_path / "c", max_bytes=10**6)
    release = trio.Event()

    async def failing(d: str) -> bytes:
        await release.wait()
        raise StarlingError("not on the center", code=ErrorCode.C031)

    codes: list[str] = []

    async def ask() -> None:
        try:
            await cache.get("a" * 64, failing)
        except StarlingError as exc:
            codes.append(exc.code.value)

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(ask)
        await trio.testing.wait_all_tasks_blocked()
        release.set()
    assert codes == ["C031"] * 3


async def test_center_store_verifies_and_lists_missing(tmp_path):
    files = CenterFiles(tmp_path / "chunks", None, "center-1")
    digest, data = _chunk(100)
    assert await files.missing([digest, digest]) == [digest]
    assert await files.put(digest, data) is True and await files.put(digest, data) is False
    assert await files.read(digest) == data and await files.missing([digest]) == []
    with pytest.raises(StarlingError) as info:
        await files.put("0" * 64, data)
    assert info.value.code is ErrorCode.A015 and not files.has("0" * 64)
    for bad in ("../etc/passwd", "A" * 64, "abc"):
        with pytest.raises(StarlingError) as info:
            await files.read(bad)
        assert info.value.code is ErrorCode.C001
    with pytest.raises(StarlingError) as info:
        await files.read("1" * 64)
    assert info.value.code is ErrorCode.C031


def test_paths_scope():
    scopes = ["/opt/app/*", "/etc/app.conf"]
    check_paths(scopes, "k", "file.install", {"dest": "/opt/app/releases/42/"})
    check_paths(scopes, "k", "file.write", {"path": "/etc/app.conf"})
    check_paths(scopes, "k", "file.read", {"path": "/etc/shadow"})  # reading is not limited by `paths`
    check_paths([], "k", "file.install", {"dest": "/anywhere"})
    for action, params in [
        ("file.install", {"dest": "/etc/"}),
        ("file.install", {"dest": "/opt/app/../../etc/passwd"}),
        ("file.move", {"src": "/opt/app/x", "dest": "/usr/bin/x"}),
        ("file.push", {"path": "/opt/application"}),
    ]:
        with pytest.raises(StarlingError) as info:
            check_paths(scopes, "k", action, params)
        assert info.value.code is ErrorCode.C009, (action, params)
    with pytest.raises(StarlingError) as info:
        check_paths(scopes, "k", "file.install", {"dest": "relative/path"})
    assert info.value.code is ErrorCode.C001


def test_rate_limit_with_mock_clock():
    async def run() -> float:
        limit = RateLimit(1000, burst=1000)
        start = trio.current_time()
        for _ in range(5):
            await limit.take(1000)
        return trio.current_time() - start

    # The bucket starts full: 5000 bytes at 1000 B/s take 4 s.
    took = trio.run(run, clock=trio.testing.MockClock(autojump_threshold=0))
    assert 3.99 <= took <= 4.01
    assert RateLimit(0).rate == 0  # no cap


def test_chunk_messages_round_trip():
    for msg in (ChunkGet(req=1, hash="a" * 64, refresh=True), ChunkData(req=2, hash="b" * 64, data=b"\x00\x01"),
                ChunkPut(req=3, hash="c" * 64, data=b"x"), ChunkAck(req=4, hash="d" * 64, code="A015", message="bad")):
        assert decode(encode(msg)) == msg


def test_manifest_altered_after_signing_is_refused():
    key = ed25519.Ed25519PrivateKey.generate()
    manifest = {"dest": "/opt/app/", "files": [{"path": "a", "size": 1, "sha256": "1" * 64, "chunks": ["2" * 64]}]}
    spec = JobSpec(job_id="j1", action="file.install", params=msgspec.Raw(encode_value(manifest)), timeout=60, deadline=time.time() + 60)
    spec, refs = sign_job_spec(key, key_id_for(key), spec, [TaskRef(task_id="j1-0", agent_id="h1")], expires=time.time() + 60, nonce=b"j1")
    keys = {key_id_for(key): key.public_key()}
    good = Task(task_id="j1-0", job=spec, proof=refs[0].proof, index=refs[0].index)
    verify_task_message(keys, good, time.time(), agent_id="h1")
    evil = dict(manifest, dest="/etc/")
    forged = Task(task_id="j1-0", job=msgspec.structs.replace(spec, params=msgspec.Raw(encode_value(evil))), proof=refs[0].proof, index=refs[0].index)
    with pytest.raises(StarlingError) as info:
        verify_task_message(keys, forged, time.time(), agent_id="h1")
    assert info.value.code is ErrorCode.A010
