"""The proxy's file channel: a bounded, least-recently-used chunk cache on disk
in front of the center, shared by every agent of the proxy.

Each chunk crosses the center→proxy link once: the first agent that asks for a
chunk the cache lacks makes the proxy fetch it (and verify its SHA-256, so a
chunk corrupted on the way from the center never enters the cache); agents
asking for the same chunk meanwhile wait for that one fetch. An agent that
finds a served copy corrupt asks again with ``refresh``: the proxy drops its
cached copy and fetches anew. Chunks an agent collects (``chunk_put``) are
passed through to the center. A semaphore bounds the chunks in memory at
once, and a rate limit caps the bytes per second served to agents.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from transports import (
    ChunkAck,
    ChunkData,
    ChunkGet,
    ChunkPut,
    ErrorCode,
    RateLimit,
    StarlingError,
    private_dir,
)

log = logging.getLogger("starling.proxy.files")

#: Chunks being served (or relayed) at once: each is in memory while it is sent.
SERVE_AT_ONCE = 32
#: How long the proxy waits for the center to answer one request before asking again.
UPSTREAM_PATIENCE = 30.0
#: How long a request may wait for any link to a center at all.
NO_LINK_PATIENCE = 60.0
VERIFY_TRIES = 3


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ChunkCache:
    """Chunks on disk under ``root`` (one file each), at most ``max_bytes`` in
    total, least recently used evicted first; concurrent misses coalesce.

    :param root: the cache directory (created; what it holds is reused on start).
    :param max_bytes: the size cap.
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = private_dir(root)  # files operators push may hold secrets
        self.max_bytes = max_bytes
        self._lru: OrderedDict[str, int] = OrderedDict()
        self._fetching: dict[str, tuple[trio.Event, list[Any]]] = {}
        self.size = 0
        self.statistics = {"hits": 0, "misses": 0, "coalesced": 0, "evicted": 0, "dropped": 0}
        found = []
        for f in root.iterdir():
            if f.name.startswith("."):
                f.unlink(missing_ok=True)  # a torn write from before a crash
                continue
            s = f.stat()
            found.append((s.st_atime, f.name, s.st_size))
        for _, name, size in sorted(found):
            self._lru[name] = size
            self.size += size
        self._evict()

    def _evict(self) -> None:
        while self.size > self.max_bytes and self._lru:
            name, size = self._lru.popitem(last=False)
            self.size -= size
            (self.root / name).unlink(missing_ok=True)
            self.statistics["evicted"] += 1

    def drop(self, digest: str) -> None:
        size = self._lru.pop(digest, None)
        if size is not None:
            self.size -= size
            (self.root / digest).unlink(missing_ok=True)
            self.statistics["dropped"] += 1

    def _store(self, digest: str, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".in-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, self.root / digest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, digest: str, fetch: Callable[[str], Any], *, refresh: bool = False) -> bytes:
        """The chunk, from disk or (once, for all who ask meanwhile) from ``fetch``."""
        if refresh:
            self.drop(digest)
        if digest in self._lru:
            self._lru.move_to_end(digest)
            try:
                data: bytes = await trio.to_thread.run_sync((self.root / digest).read_bytes)
                self.statistics["hits"] += 1
                return data
            except FileNotFoundError:
                self.drop(digest)  # removed behind our back: fetch it again
        pending = self._fetching.get(digest)
        if pending is not None:
            self.statistics["coalesced"] += 1
            await pending[0].wait()
            outcome = pending[1][0]
            if isinstance(outcome, BaseException):
                raise outcome
            return bytes(outcome)
        ev, box = trio.Event(), list[Any]()
        self._fetching[digest] = (ev, box)
        self.statistics["misses"] += 1
        try:
            data = await fetch(digest)
            if len(data) <= self.max_bytes and digest not in self._lru:
                await trio.to_thread.run_sync(self._store, digest, data)
                self._lru[digest] = len(data)
                self.size += len(data)
                self._evict()
            box.append(data)
            return data
        except BaseException as exc:
            box.append(StarlingError(str(exc), code=exc.code) if isinstance(exc, StarlingError) else
                       StarlingError(f"fetching chunk {digest[:12]}… failed: {exc}", code=ErrorCode.P007))
            raise
        finally:
            del self._fetching[digest]
            ev.set()


class ProxyFiles:
    """The file channel of one proxy: cache, relay, caps and counters.

    :param proxy: the :class:`center.proxy._proxy.Proxy` (its links and agent sends).
    :param cache_dir: where the chunk cache lives.
    :param cache_bytes: the cache's size cap.
    :param rate: bytes per second served to all agents together (0: no cap).
    """

    def __init__(self, proxy: Any, cache_dir: Path, cache_bytes: int, *, rate: float = 0.0) -> None:
        self.proxy = proxy
        self.cache = ChunkCache(cache_dir, cache_bytes)
        self.limit = RateLimit(rate)
        self._serving = trio.Semaphore(SERVE_AT_ONCE)
        self._ids = itertools.count(1)
        self._waiting: dict[int, tuple[trio.Event, list[Any]]] = {}
        self.statistics = {"served": 0, "served_bytes": 0, "from_center": 0, "from_center_bytes": 0,
                           "relayed": 0, "relayed_bytes": 0, "corrupt_from_center": 0}

    # -- the center side -----------------------------------------------------------------

    def deliver(self, msg: ChunkData | ChunkAck) -> None:
        entry = self._waiting.get(msg.req)
        if entry is not None:
            entry[1].append(msg)
            entry[0].set()

    def link_down(self) -> None:
        """A center link broke: what was asked on it is asked again on another."""
        for ev, box in list(self._waiting.values()):
            box.append(None)
            ev.set()

    async def _upstream(self, make: Callable[[int], Any]) -> Any:
        waited = 0.0
        while True:
            link = self.proxy._any_link()
            if link is None:
                if waited >= NO_LINK_PATIENCE:
                    raise StarlingError("no link to any center", code=ErrorCode.P007)
                await trio.sleep(0.5)
                waited += 0.5
                continue
            req = next(self._ids)
            ev, box = trio.Event(), list[Any]()
            self._waiting[req] = (ev, box)
            try:
                try:
                    await link.send(make(req))
                except Exception:
                    box.append(None)
                else:
                    with trio.move_on_after(UPSTREAM_PATIENCE):
                        await ev.wait()
            finally:
                self._waiting.pop(req, None)
            if box and box[0] is not None:
                return box[0]
            await trio.sleep(0.2)

    async def _from_center(self, digest: str) -> bytes:
        for _ in range(VERIFY_TRIES):
            answer: ChunkData = await self._upstream(lambda req: ChunkGet(req=req, hash=digest))
            if answer.code:
                raise StarlingError(answer.message, code=ErrorCode.of(answer.code, ErrorCode.C031))
            actual = await trio.to_thread.run_sync(_sha256, answer.data)
            if actual == digest:
                self.statistics["from_center"] += 1
                self.statistics["from_center_bytes"] += len(answer.data)
                return answer.data
            self.statistics["corrupt_from_center"] += 1
            log.warning("chunk %s from the center failed verification; asking again", digest)
        raise StarlingError(f"chunk {digest} kept failing verification on the center link", code=ErrorCode.A015)

    # -- the agent side ------------------------------------------------------------------

    async def serve_agent(self, conn: Any, msg: ChunkGet | ChunkPut) -> None:
        """Answer one agent's ``chunk_get`` (from the cache) or relay its ``chunk_put``."""
        async with self._serving:
            if isinstance(msg, ChunkGet):
                try:
                    data = await self.cache.get(msg.hash, self._from_center, refresh=msg.refresh)
                except StarlingError as exc:
                    await self.proxy._send_agent(conn, ChunkData(req=msg.req, hash=msg.hash, code=exc.code.value, message=exc.message))
                    return
                await self.limit.take(len(data))
                if await self.proxy._send_agent(conn, ChunkData(req=msg.req, hash=msg.hash, data=data)):
                    self.statistics["served"] += 1
                    self.statistics["served_bytes"] += len(data)
                return
            try:
                ack: ChunkAck = await self._upstream(lambda req: ChunkPut(req=req, hash=msg.hash, data=msg.data))
            except StarlingError as exc:
                ack = ChunkAck(req=0, hash=msg.hash, code=exc.code.value, message=exc.message)
            self.statistics["relayed"] += 1
            self.statistics["relayed_bytes"] += len(msg.data)
            await self.proxy._send_agent(conn, ChunkAck(req=msg.req, hash=msg.hash, code=ack.code, message=ack.message))

    def status(self) -> dict[str, Any]:
        return {**self.statistics, **{f"cache_{k}": v for k, v in self.cache.statistics.items()},
                "cache_bytes": self.cache.size, "cache_chunks": len(self.cache._lru)}
