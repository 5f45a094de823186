"""Install files and directories from a signed manifest, fetching only missing chunks.

``file.install`` is the agent's half of ``starling cp`` towards hosts. The
job's params (covered by the center's signature) carry the manifest: every
file's relative path, size, mode, SHA-256 and chunk hashes. The agent compares
each file with what it holds (identical files are skipped without fetching a
byte), checks free space (E006), fetches the missing chunks from its proxy
over the agent link, verifies each one (a corrupt copy is asked again, A015
after three tries), keeps verified chunks in its state dir so an interrupted
transfer resumes where it stopped, then writes each file to a temp file in its
target directory, verifies the whole-file SHA-256, fsyncs and renames it into
place. With ``dry_run`` it only reports new, differing and same files.
Changes the file system.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    InvalidParams,
    Plugin,
    Risk,
    Unavailable,
    abs_path,
    action,
    code,
)
from plugins._fs import fs_errors, parse_mode

from .transfer import (
    MAX_CHUNK,
    DiskChunks,
    FileEntry,
    Planned,
    check_space,
    file_mode,
    gather,
    install_file,
    ownership,
    plan,
)

PLUGIN = Plugin("file.install", domain="files")


class InstallParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    #: Absolute destination: ends in ``/`` (or is a directory) to copy into it.
    #: Marked as a written path, so the center's rules on code paths read it.
    dest: Annotated[str, code("path", max_length=4096)]
    files: Annotated[list[FileEntry], msgspec.Meta(min_length=1, max_length=100_000)]
    chunk_size: Annotated[int, msgspec.Meta(ge=1, le=MAX_CHUNK)] = 4 * 1024 * 1024
    #: Permission bits for every file (octal); default: the source's.
    mode: str | None = None
    owner: str | None = None
    group: str | None = None
    dry_run: bool = False
    #: Chunks fetched at once from the proxy.
    parallel: Annotated[int, msgspec.Meta(ge=1, le=16)] = 2


class InstallResult(msgspec.Struct, kw_only=True):
    files: list[Planned]
    new: int = 0
    differing: int = 0
    same: int = 0
    dry_run: bool = False
    #: Chunks this host already held (verified earlier): not fetched again.
    held_chunks: int = 0
    fetched_chunks: int = 0
    fetched_bytes: int = 0
    corrupt_chunks: int = 0


def _check(p: InstallParams) -> None:
    for e in p.files:
        if e.kind == "file":
            if e.sha256 is None:
                raise InvalidParams(f"manifest entry {e.path}: sha256 is required for a file")
            if not e.chunks and e.size:
                raise InvalidParams(f"manifest entry {e.path}: chunks are required for a non-empty file")
            if len(e.chunks) != max(1, -(-e.size // p.chunk_size)) and e.size:
                raise InvalidParams(f"manifest entry {e.path}: {len(e.chunks)} chunks do not fit size {e.size} at chunk size {p.chunk_size}")
    if p.mode:
        parse_mode(p.mode)


@action("file.install", risk=Risk.CHANGE, timeout=3600)
async def install(ctx: ActionContext, p: InstallParams) -> InstallResult:
    """Install the manifest's files under ``dest``: skip identical ones, fetch and verify the rest, rename into place."""
    import trio  # loaded by the agent anyway; kept out of the plugin's import
    dest = abs_path(p.dest, "dest") + ("/" if p.dest.endswith("/") and p.dest != "/" else "")
    _check(p)
    with fs_errors(dest):
        planned = await ctx.to_thread(plan, dest, p.files, cancellable=True)
    counts = {s: sum(1 for x in planned if x.status == s and x.kind == "file") for s in ("new", "differing", "same")}
    result = InstallResult(files=planned, dry_run=p.dry_run, **counts)
    if p.dry_run:
        return result
    if ctx.chunks is None:
        raise Unavailable("file.install needs the agent's file channel")
    uid, gid = ownership(p.owner, p.group)
    todo = [(e, x) for e, x in zip(p.files, planned, strict=True) if x.kind == "file" and x.status != "same"]
    with fs_errors():
        store = DiskChunks(ctx.data_dir("file.install") / "chunks")
        await trio.to_thread.run_sync(store.sweep)
        wanted = list(dict.fromkeys(c for e, _ in todo for c in e.chunks))
        sizes = {c: p.chunk_size for c in wanted}
        store_need = sum(n for c, n in sizes.items() if not store.has(c))
        await trio.to_thread.run_sync(check_space, planned, store.root, store_need)
    stats = await gather(wanted, ctx.chunks, store, parallel=p.parallel)
    result.held_chunks, result.fetched_chunks = stats["held"], stats["fetched"]
    result.fetched_bytes, result.corrupt_chunks = stats["fetched_bytes"], stats["corrupt"]
    with fs_errors():
        for e, x in zip(p.files, planned, strict=True):
            if x.kind == "dir" and x.status == "new":
                # ``mode`` is for files; a directory keeps the source's bits (search bits intact).
                os.makedirs(x.target, exist_ok=True)
                os.chmod(x.target, file_mode(None, e, 0o755))
                if uid >= 0 or gid >= 0:
                    os.chown(x.target, uid, gid)
        for e, x in todo:
            os.makedirs(os.path.dirname(x.target), exist_ok=True)
            await trio.to_thread.run_sync(partial(install_file, e, x.target, store, mode=file_mode(p.mode, e), uid=uid, gid=gid))
        for x in planned:
            if x.kind == "file" and x.status == "same" and (p.mode or uid >= 0 or gid >= 0):
                if p.mode:
                    os.chmod(x.target, parse_mode(p.mode))
                if uid >= 0 or gid >= 0:
                    os.chown(x.target, uid, gid)
    # Installed: the chunks have done their job (a later copy fetches again, once).
    for c in wanted:
        store.discard(c)
    return result
