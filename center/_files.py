"""The center's chunk store: content-addressed file chunks on disk, indexed in
the database, served to proxies over their link and to callers over the API.

Chunks are files named by their SHA-256 under ``files_dir`` (two-level fan
out). The database row (``file_chunks``) says which center stored a chunk and
when; the bytes never enter the database. Several centers active-active share
chunks by sharing ``files_dir`` (a shared filesystem mount); a center that
lacks a chunk on its disk answers C031 and names, from the index, the center
that stored it, so an operator sees a missing shared mount at once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import trio

from transports import (
    ChunkAck,
    ChunkData,
    ChunkGet,
    ChunkPut,
    ErrorCode,
    StarlingError,
    TransportError,
    private_dir,
)

from ._store import AsyncStore, file_chunks

log = logging.getLogger("starling.center.files")

#: Largest chunk the center accepts (the agents' default is 4 MiB).
MAX_CHUNK = 8 * 1024 * 1024
#: Chunks served to proxies at once (bounds the memory they take).
SERVE_AT_ONCE = 8


def is_digest(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


class CenterFiles:
    """The chunk store of one center.

    :param root: the chunk directory (shared between centers for active-active).
    :param store: the database, for the index (None: no index, tests).
    :param center_id: written into the index next to each chunk it stores.
    :param max_file_bytes: the largest file a manifest may describe (C032).
    """

    def __init__(self, root: Path, store: AsyncStore | None, center_id: str = "", max_file_bytes: int = 64 << 30) -> None:
        self.root = private_dir(root)  # files operators push may hold secrets
        self.store = store
        self.center_id = center_id
        self.max_file_bytes = max_file_bytes
        self._serving = trio.Semaphore(SERVE_AT_ONCE)
        self.statistics = {"served": 0, "served_bytes": 0, "stored": 0, "stored_bytes": 0, "refused": 0}

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    # -- blocking parts (run in threads) -------------------------------------------------

    def _write(self, digest: str, data: bytes) -> bool:
        target = self.path(digest)
        if target.is_file():
            return False
        target.parent.mkdir(mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".in-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return True

    def _index(self, digest: str, size: int) -> None:
        assert self.store is not None
        with self.store.sync.engine.begin() as conn:
            try:
                conn.execute(file_chunks.insert().values(hash=digest, size=size, center=self.center_id, stored=time.time()))
            except sa.exc.IntegrityError:
                pass  # stored before (by us or another center): the first row stays

    def _who_stored(self, digest: str) -> str:
        if self.store is None:
            return ""
        with self.store.sync.engine.connect() as conn:
            return str(conn.execute(sa.select(file_chunks.c.center).where(file_chunks.c.hash == digest)).scalar() or "")

    # -- operations ------------------------------------------------------------------------

    async def put(self, digest: str, data: bytes) -> bool:
        """Store one chunk after checking it is what its name says.

        :returns: True when it was new here.
        :raises StarlingError: C001 for a bad name or size, A015 when the bytes
            do not hash to ``digest``.
        """
        if not is_digest(digest):
            raise StarlingError("a chunk is named by its lowercase hex SHA-256", code=ErrorCode.C001)
        if len(data) > MAX_CHUNK:
            raise StarlingError(f"chunk of {len(data)} bytes exceeds {MAX_CHUNK}", code=ErrorCode.C018)
        actual = await trio.to_thread.run_sync(lambda: hashlib.sha256(data).hexdigest())
        if actual != digest:
            self.statistics["refused"] += 1
            raise StarlingError(f"chunk content hashes to {actual}, not {digest}", code=ErrorCode.A015)
        new = await trio.to_thread.run_sync(self._write, digest, data)
        if new:
            self.statistics["stored"] += 1
            self.statistics["stored_bytes"] += len(data)
        if self.store is not None:
            await self.store.call(self._index, digest, len(data))
        return new

    async def read(self, digest: str) -> bytes:
        """The chunk's bytes.

        :raises StarlingError: C031 when this center does not hold it.
        """
        if not is_digest(digest):
            raise StarlingError("a chunk is named by its lowercase hex SHA-256", code=ErrorCode.C001)
        try:
            return await trio.to_thread.run_sync(self.path(digest).read_bytes)
        except FileNotFoundError:
            who = await trio.to_thread.run_sync(self._who_stored, digest)
            where = f"; center {who} stored it: give the centers a shared files_dir" if who and who != self.center_id else ""
            raise StarlingError(f"chunk {digest} is not on this center{where}", code=ErrorCode.C031) from None

    async def missing(self, digests: list[str]) -> list[str]:
        """The ones among ``digests`` this center lacks (what an upload must send)."""
        bad = [d for d in digests if not is_digest(d)]
        if bad:
            raise StarlingError(f"not a chunk name: {bad[0][:80]!r}", code=ErrorCode.C001)
        return await trio.to_thread.run_sync(lambda: [d for d in dict.fromkeys(digests) if not self.has(d)])

    # -- the proxy link ----------------------------------------------------------------------

    async def serve(self, channel: Any, msg: ChunkGet | ChunkPut) -> None:
        """Answer one ``chunk_get`` / ``chunk_put`` from a proxy."""
        async with self._serving:
            try:
                if isinstance(msg, ChunkGet):
                    data = await self.read(msg.hash)
                    self.statistics["served"] += 1
                    self.statistics["served_bytes"] += len(data)
                    answer: Any = ChunkData(req=msg.req, hash=msg.hash, data=data)
                else:
                    await self.put(msg.hash, msg.data)
                    answer = ChunkAck(req=msg.req, hash=msg.hash)
            except StarlingError as exc:
                kind = ChunkData if isinstance(msg, ChunkGet) else ChunkAck
                answer = kind(req=msg.req, hash=msg.hash, code=exc.code.value, message=exc.message)
            try:
                await channel.send(answer)
            except TransportError:
                pass  # the proxy asks again on its next link
