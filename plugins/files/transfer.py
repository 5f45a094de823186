"""The file channel's agent-side core, shared by ``file.install``, ``file.collect``
and the simulated fleet (which runs this very code for its benchmark).

A file travels as a *manifest* (inside the signed job params) plus
content-addressed *chunks* (SHA-256 of each chunk is its name). Installing is:

1. :func:`plan` — resolve every entry to its target path, refuse a file where
   a directory is (or the other way round, A022), and compare what is there:
   ``same`` (size and SHA-256 equal: nothing to send), ``differing`` or ``new``;
2. :func:`check_space` — the target filesystems (and the chunk store) must hold
   what will be written (E006 before a single byte is fetched);
3. :func:`gather` — fetch each chunk the :class:`ChunkStore` lacks, verify its
   SHA-256 (a bad copy is asked again with ``refresh``: the proxy drops its
   cached copy), keep it in the store: verified chunks survive a broken link
   and an agent restart, so a re-run fetches only what is still missing;
4. :func:`install_file` — write the chunks in order to a temp file in the
   target directory while hashing, compare with the manifest's whole-file
   SHA-256 (A015 on a mismatch: nothing becomes visible), fsync, set mode and
   owner, rename over the target, fsync the directory.
"""

from __future__ import annotations

import hashlib
import os
import stat as st
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import msgspec

from agent_core import ActionError, ErrorCode, InvalidParams, atomic_write, open_atomic
from plugins._fs import gid_of, hash_file, parse_mode, uid_of
from transports import leaf_errors

#: Default chunk size: big enough that per-chunk overhead is small, small
#: enough that a proxy serving many agents holds few of them in memory.
CHUNK_SIZE = 4 * 1024 * 1024
MAX_CHUNK = 8 * 1024 * 1024
#: How often one chunk may fail verification before the transfer gives up (A015).
VERIFY_TRIES = 3
#: Verified chunks nobody used for this long are swept from the agent's store.
STALE_AFTER = 2 * 24 * 3600

Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class FileEntry(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """One file or directory of a manifest.

    ``path`` is relative and ``/``-separated; its first component is the name
    of what was copied (the file itself, or the top directory).
    """

    path: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    kind: Literal["file", "dir"] = "file"
    size: Annotated[int, msgspec.Meta(ge=0)] = 0
    sha256: Sha256 | None = None
    chunks: list[Sha256] = []
    #: Octal permission bits of the source (``"0644"``); the action's ``mode`` wins.
    mode: str | None = None


class Planned(msgspec.Struct, kw_only=True):
    """What installing one entry would do (and, after it ran, what it did)."""

    path: str
    target: str
    kind: str = "file"
    status: Literal["new", "differing", "same"] = "new"
    size: int = 0


class ChunkSource(Protocol):
    """Where chunks come from: the agent's :class:`agent_core._chunks.ChunkClient`."""

    async def get(self, digest: str, *, refresh: bool = False) -> bytes: ...


class ChunkStore(Protocol):
    """Where verified chunks wait until the file is installed."""

    def has(self, digest: str) -> bool: ...

    def put(self, digest: str, data: bytes) -> None: ...

    def read(self, digest: str) -> bytes: ...

    def discard(self, digest: str) -> None: ...


class DiskChunks:
    """Verified chunks in the agent's state dir, one file each (``<sha256>``),
    written to a temp name and renamed, so a chunk file is whole or absent."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o700)  # chunks may be secret until installed with their mode

    def _path(self, digest: str) -> Path:
        return self.root / digest

    def has(self, digest: str) -> bool:
        try:
            return self._path(digest).stat().st_size > 0 or digest == EMPTY
        except FileNotFoundError:
            return False

    def put(self, digest: str, data: bytes) -> None:
        atomic_write(str(self._path(digest)), data, mode=0o600)

    def read(self, digest: str) -> bytes:
        return self._path(digest).read_bytes()

    def discard(self, digest: str) -> None:
        try:
            self._path(digest).unlink()
        except FileNotFoundError:
            pass

    def sweep(self) -> None:
        """Drop chunks (and torn temp files) nobody touched for two days."""
        cutoff = time.time() - STALE_AFTER
        for f in self.root.iterdir():
            try:
                if f.stat().st_mtime < cutoff:
                    f.unlink()
            except OSError:
                pass


EMPTY = hashlib.sha256(b"").hexdigest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- planning -------------------------------------------------------------------------


def _rel_parts(path: str) -> list[str]:
    if "\x00" in path or path.startswith("/"):
        raise InvalidParams(f"manifest path {path!r} must be relative")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise InvalidParams(f"manifest path {path!r} must not be empty or contain '..'")
    return parts


def resolve(dest: str, entries: Iterable[FileEntry]) -> list[tuple[FileEntry, str]]:
    """Target path of every entry.

    ``dest`` ending in ``/`` receives the copy *inside* it (``dest/<name>/…``),
    and so does an existing directory when a single file is copied; otherwise
    ``dest`` *is* the copy (a file under a new name, or the root of a copied
    directory). So copying a directory again to the same ``dest`` lands in
    the same place (not one level deeper, as ``cp -r`` would).
    """
    entries = list(entries)
    single_file = len(entries) == 1 and entries[0].kind == "file"
    into = dest.endswith("/") or (single_file and os.path.isdir(dest))
    root = os.path.normpath(dest)
    out = []
    for e in entries:
        parts = _rel_parts(e.path)
        target = os.path.join(root, *parts) if into else os.path.join(root, *parts[1:])
        out.append((e, target))
    return out


def _kind_conflict(target: str, kind: str) -> None:
    """A022 when something of the other kind sits at ``target`` or in its way."""
    try:
        mode: int | None = os.lstat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    if mode is not None:
        if kind == "file" and st.S_ISDIR(mode):
            raise ActionError(f"{target} is a directory; a file was expected there", code=ErrorCode.A022)
        if kind == "file" and not st.S_ISREG(mode):
            raise ActionError(f"{target} exists and is not a regular file", code=ErrorCode.A022)
        if kind == "dir" and not st.S_ISDIR(mode):
            raise ActionError(f"{target} is a file; a directory was expected there", code=ErrorCode.A022)
    parent = os.path.dirname(target)
    while parent and parent != "/":
        try:
            pmode = os.stat(parent).st_mode
        except (FileNotFoundError, NotADirectoryError):
            parent = os.path.dirname(parent)
            continue
        if not st.S_ISDIR(pmode):
            raise ActionError(f"{parent} is a file; a directory was expected there", code=ErrorCode.A022)
        return


def plan(dest: str, entries: list[FileEntry], cancel: Any = None) -> list[Planned]:
    """Compare each entry with what the host holds (hash compare: nothing is
    fetched for a file that is already identical). Blocking; run it in a thread."""
    out = []
    for e, target in resolve(dest, entries):
        _kind_conflict(target, e.kind)
        if e.kind == "dir":
            out.append(Planned(path=e.path, target=target, kind="dir", status="same" if os.path.isdir(target) else "new"))
            continue
        status: Literal["new", "differing", "same"] = "new"
        try:
            s = os.stat(target)
        except FileNotFoundError:
            s = None
        if s is not None:
            same = s.st_size == e.size and hash_file(target, "sha256", cancel) == e.sha256
            status = "same" if same else "differing"
        out.append(Planned(path=e.path, target=target, status=status, size=e.size))
    return out


def _existing_ancestor(path: str) -> str:
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def check_space(work: list[Planned], store_root: Path | None, store_need: int, reserve: int = 1 << 20) -> None:
    """E006 unless every filesystem can take what will be written to it: the
    files (through a temp file beside each) and the chunks not yet held."""
    need: dict[int, int] = {}
    where: dict[int, str] = {}
    for p in work:
        if p.kind != "file" or p.status == "same":
            continue
        anchor = _existing_ancestor(os.path.dirname(p.target))
        dev = os.stat(anchor).st_dev
        need[dev] = need.get(dev, 0) + p.size
        where.setdefault(dev, anchor)
    if store_root is not None and store_need:
        dev = os.stat(store_root).st_dev
        need[dev] = need.get(dev, 0) + store_need
        where.setdefault(dev, str(store_root))
    for dev, nbytes in need.items():
        vfs = os.statvfs(where[dev])
        free = vfs.f_bavail * vfs.f_frsize
        if nbytes + reserve > free:
            raise ActionError(
                f"{where[dev]}: {nbytes} bytes to write, {free} bytes free",
                code=ErrorCode.E006,
                data={"path": where[dev], "needed": nbytes, "free": free},
            )


# -- gathering ------------------------------------------------------------------------


async def gather(
    digests: Iterable[str],
    source: ChunkSource,
    store: ChunkStore,
    *,
    parallel: int = 2,
    on_chunk: Callable[[int], Awaitable[None]] | None = None,
) -> dict[str, int]:
    """Fetch every chunk ``store`` lacks, verified, into ``store``.

    :returns: counts: ``held`` (already there), ``fetched``, ``fetched_bytes``,
        ``corrupt`` (copies that failed verification and were asked again).
    :raises ActionError: A015 when a chunk fails verification ``VERIFY_TRIES``
        times; the source's own error when it cannot be had.
    """
    import trio  # loaded by the agent anyway; kept out of the plugin's import

    wanted = list(dict.fromkeys(d for d in digests if d != EMPTY))
    held = [d for d in wanted if store.has(d)]
    held_set = set(held)
    missing = [d for d in wanted if d not in held_set]
    stats = {"held": len(held), "fetched": 0, "fetched_bytes": 0, "corrupt": 0}
    queue = iter(missing)

    async def worker() -> None:
        for digest in queue:
            for attempt in range(VERIFY_TRIES):
                data = await source.get(digest, refresh=attempt > 0)
                # hashlib releases the GIL on big buffers: hash off the event loop.
                if await trio.to_thread.run_sync(sha256_hex, data) == digest:
                    break
                stats["corrupt"] += 1
            else:
                raise ActionError(
                    f"chunk {digest[:12]}… failed verification {VERIFY_TRIES} times (corrupted in transit or in a cache)",
                    code=ErrorCode.A015, data={"chunk": digest},
                )
            await trio.to_thread.run_sync(store.put, digest, data)
            stats["fetched"] += 1
            stats["fetched_bytes"] += len(data)
            if on_chunk is not None:
                await on_chunk(len(data))

    try:
        async with trio.open_nursery() as nursery:
            for _ in range(max(1, min(parallel, len(missing)))):
                nursery.start_soon(worker)
    except BaseExceptionGroup as group:
        # Report the first real failure, as if one worker had run alone.
        leaves = leaf_errors(group)
        if any(isinstance(e, trio.Cancelled) for e in leaves) or not isinstance(leaves[0], Exception):
            raise
        raise leaves[0] from None
    return stats


def stream_file(entry: FileEntry, store: ChunkStore, out: Any = None) -> str:
    """Write ``entry``'s chunks in order to ``out`` (if given) and return the
    SHA-256 of what was written. Blocking."""
    h = hashlib.sha256()
    for digest in entry.chunks:
        data = b"" if digest == EMPTY else store.read(digest)
        h.update(data)
        if out is not None:
            out.write(data)
    return h.hexdigest()


def install_file(entry: FileEntry, target: str, store: ChunkStore, *, mode: int, uid: int = -1, gid: int = -1) -> None:
    """Assemble, verify and atomically install one file. Blocking.

    :raises ActionError: A015 when the assembled file's SHA-256 is not the
        manifest's (the chunks of this file are dropped so a re-run fetches
        them anew); nothing becomes visible at ``target`` unless it matched.
    """
    with open_atomic(target, mode=mode, uid=uid, gid=gid, suffix=".starling-part") as fh:
        digest = stream_file(entry, store, fh)
        if digest != entry.sha256:
            for c in entry.chunks:
                store.discard(c)
            raise ActionError(
                f"{target}: assembled SHA-256 {digest} is not the manifest's {entry.sha256}; nothing installed",
                code=ErrorCode.A015, data={"expected": entry.sha256, "actual": digest},
            )


def ownership(owner: str | None, group: str | None) -> tuple[int, int]:
    return (uid_of(owner) if owner else -1, gid_of(group) if group else -1)


def file_mode(override: str | None, entry: FileEntry, default: int = 0o644) -> int:
    if override:
        return parse_mode(override)
    if entry.mode:
        return parse_mode(entry.mode, "manifest mode")
    return default


# -- collecting -----------------------------------------------------------------------


def chunk_file(path: str, chunk_size: int) -> Iterable[tuple[str, bytes]]:
    """``(sha256, data)`` of each chunk of ``path``, read one chunk at a time."""
    with open(path, "rb") as fh:
        while data := fh.read(chunk_size):
            yield sha256_hex(data), data
