"""Pack files and directories into a tar (plain, gz, bz2, xz) or zip archive.

``file.archive`` builds an archive from one or more paths with Python's
``tarfile``/``zipfile`` (no external tools), storing each path under its
base name (or relative to ``base``), skipping names that match ``exclude``
globs, and keeping symlinks as links. The archive is written to a temporary
name beside ``dest`` and renamed when complete, so a reader never sees half
an archive. Returns the entry count, input bytes, archive size and sha256.
Changes the file system.
"""

from __future__ import annotations

import fnmatch
import os
import stat as st
import tarfile
import zipfile
from typing import Annotated, Any, BinaryIO, Literal

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    CancelToken,
    ErrorCode,
    InvalidParams,
    Plugin,
    Risk,
    abs_path,
    action,
    open_atomic,
)
from plugins._fs import fs_errors, hash_file

PLUGIN = Plugin("file.archive", domain="files")

Format = Literal["tar", "tar.gz", "tar.bz2", "tar.xz", "zip"]
_TAR_MODES = {"tar": "w", "tar.gz": "w:gz", "tar.bz2": "w:bz2", "tar.xz": "w:xz"}


class ArchiveParams(msgspec.Struct, forbid_unknown_fields=True):
    paths: Annotated[list[str], msgspec.Meta(min_length=1, max_length=1000)]
    dest: str
    format: Format = "tar.gz"
    base: str | None = None
    exclude: list[str] = []
    overwrite: bool = False
    max_entries: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 1_000_000


class ArchiveResult(msgspec.Struct):
    dest: str
    format: str
    entries: int
    bytes_in: int
    size: int
    sha256: str


class _Counter:
    def __init__(self, limit: int, exclude: list[str], cancel: CancelToken) -> None:
        self.entries = 0
        self.bytes_in = 0
        self.limit = limit
        self.exclude = exclude
        self.cancel = cancel

    def skip(self, arcname: str) -> bool:
        name = arcname.rstrip("/").rsplit("/", 1)[-1]
        return any(fnmatch.fnmatch(name, pat) or fnmatch.fnmatch(arcname, pat) for pat in self.exclude)

    def count(self, size: int) -> None:
        self.cancel.check()
        self.entries += 1
        self.bytes_in += size
        if self.entries > self.limit:
            raise InvalidParams(f"more than {self.limit} entries; raise max_entries")


def _arcname(path: str, base: str | None) -> str:
    if base is None:
        return os.path.basename(path) or path.strip("/")
    return os.path.relpath(path, base)


def _write_tar(out: BinaryIO, sources: list[tuple[str, str]], fmt: str, counter: _Counter) -> None:
    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if counter.skip(info.name):
            return None
        counter.count(info.size if info.isfile() else 0)
        return info

    mode: Any = _TAR_MODES[fmt]  # one of tarfile's literal write modes
    with tarfile.open(fileobj=out, mode=mode) as tar:
        for path, arc in sources:
            tar.add(path, arcname=arc, recursive=True, filter=keep)


def _write_zip(out: BinaryIO, sources: list[tuple[str, str]], counter: _Counter) -> None:
    def add(zf: zipfile.ZipFile, path: str, arc: str) -> None:
        s = os.lstat(path)
        if counter.skip(arc):
            return
        if st.S_ISLNK(s.st_mode):
            info = zipfile.ZipInfo(arc)
            info.external_attr = (st.S_IFLNK | 0o777) << 16
            zf.writestr(info, os.readlink(path))
            counter.count(0)
        elif st.S_ISDIR(s.st_mode):
            zf.write(path, arc + "/")
            counter.count(0)
            for name in sorted(os.listdir(path)):
                add(zf, os.path.join(path, name), f"{arc}/{name}")
        elif st.S_ISREG(s.st_mode):
            zf.write(path, arc)
            counter.count(s.st_size)

    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, arc in sources:
            add(zf, path, arc)


def _archive(p: ArchiveParams, paths: list[str], dest: str, base: str | None, cancel: CancelToken) -> ArchiveResult:
    for path in paths:
        os.lstat(path)  # a missing source is A017 before anything is written
        real = os.path.realpath(path)
        if os.path.isdir(real) and os.path.realpath(dest).startswith(real.rstrip("/") + "/"):
            raise InvalidParams(f"dest {dest} is inside source {path}")
    if os.path.lexists(dest) and not p.overwrite:
        raise ActionError(f"{dest} exists; set overwrite to replace it", code=ErrorCode.A014)
    sources = [(path, _arcname(path, base)) for path in paths]
    counter = _Counter(p.max_entries, p.exclude, cancel)
    with open_atomic(dest, mode=0o644) as fh:
        if p.format == "zip":
            _write_zip(fh, sources, counter)
        else:
            _write_tar(fh, sources, p.format, counter)
    return ArchiveResult(
        dest=dest,
        format=p.format,
        entries=counter.entries,
        bytes_in=counter.bytes_in,
        size=os.path.getsize(dest),
        sha256=hash_file(dest),
    )


@action("file.archive", risk=Risk.CHANGE, timeout=1800)
async def archive(ctx: ActionContext, p: ArchiveParams) -> ArchiveResult:
    """Create a tar/zip archive at ``dest`` from ``paths``, written atomically."""
    paths = [abs_path(x, "paths") for x in p.paths]
    dest = abs_path(p.dest, "dest")
    base = abs_path(p.base, "base") if p.base is not None else None
    if base is not None:
        outside = [x for x in paths if not (x + "/").startswith(base.rstrip("/") + "/")]
        if outside:
            raise InvalidParams(f"base: {outside[0]} is not under {base}")
    with fs_errors():
        return await ctx.to_thread(_archive, p, paths, dest, base, cancellable=True)
