"""Unpack a tar or zip archive safely: no path traversal, no links out, no devices.

``file.extract`` checks every member before writing anything: absolute
names, ``..`` components, links pointing outside the destination, device
files and members that would land outside it through an existing symlink are
refused (A016) and nothing is extracted. Tar members go through Python's
``data`` filter (no setuid bits, no ownership from the archive); zip members
are written as plain files. It also refuses archives larger than
``max_bytes`` or ``max_entries`` unpacked or than the free space, and with
``list_only`` just lists the members. Changes the file system.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
import zipfile
from typing import Annotated, Literal

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
    code,
)
from plugins._fs import fs_errors

PLUGIN = Plugin("file.extract", domain="files")


class ExtractParams(msgspec.Struct, forbid_unknown_fields=True):
    archive: str
    dest: Annotated[str, code("path")]
    format: Literal["auto", "tar", "zip"] = "auto"
    strip_components: Annotated[int, msgspec.Meta(ge=0, le=64)] = 0
    overwrite: bool = False
    list_only: bool = False
    max_entries: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 100_000
    max_bytes: Annotated[int, msgspec.Meta(ge=1)] = 10 * 1024**3


class Member(msgspec.Struct):
    name: str
    type: str
    size: int


class ExtractResult(msgspec.Struct):
    archive: str
    dest: str
    format: str
    entries: int
    bytes: int
    members: list[Member]
    extracted: bool


def unsafe(message: str) -> ActionError:
    return ActionError(f"refusing archive: {message}", code=ErrorCode.A016)


def clean_name(name: str, strip: int) -> str | None:
    """The member's relative path after ``strip`` components, or None to skip it.

    :raises ActionError: A016 for an absolute name or a ``..`` component.
    """
    if name.startswith("/") or "\x00" in name:
        raise unsafe(f"member {name!r} has an absolute path")
    parts = [x for x in name.replace("\\", "/").split("/") if x not in ("", ".")]
    if ".." in parts:
        raise unsafe(f"member {name!r} climbs out with '..'")
    parts = parts[strip:]
    return "/".join(parts) if parts else None


def _inside(dest: str, rel: str) -> None:
    # realpath follows symlinks already on disk (or extracted earlier), the classic way out.
    real = os.path.realpath(os.path.join(dest, rel))
    if os.path.commonpath([real, os.path.realpath(dest)]) != os.path.realpath(dest):
        raise unsafe(f"member {rel!r} would land outside {dest} ({real})")


def _tar_plan(tar: tarfile.TarFile, dest: str, p: ExtractParams) -> list[tarfile.TarInfo]:
    plan = []
    for m in tar:
        rel = clean_name(m.name, p.strip_components)
        if rel is None:
            continue
        changes: dict[str, str] = {"name": rel}
        if m.islnk():
            link = clean_name(m.linkname, p.strip_components)
            if link is None:
                raise unsafe(f"hard link {m.name!r} points outside the stripped tree")
            changes["linkname"] = link
        m = m.replace(**changes, deep=False)  # type: ignore[arg-type]
        try:
            tarfile.data_filter(m, dest)
        except tarfile.FilterError as exc:
            raise unsafe(f"member {m.name!r}: {exc}") from exc
        if m.issym():
            target = posixpath.normpath(posixpath.join(posixpath.dirname(rel), m.linkname))
            if target.startswith("../") or target == "..":
                raise unsafe(f"symlink {rel!r} points outside the destination")
        plan.append(m)
    return plan


def _zip_plan(zf: zipfile.ZipFile, p: ExtractParams) -> list[tuple[zipfile.ZipInfo, str]]:
    plan = []
    for info in zf.infolist():
        rel = clean_name(info.filename, p.strip_components)
        if rel is not None:
            plan.append((info, rel))
    return plan


def _kind(m: tarfile.TarInfo) -> str:
    return "dir" if m.isdir() else "link" if m.issym() else "hardlink" if m.islnk() else "file"


def _check_bounds(dest: str, entries: int, total: int, p: ExtractParams) -> None:
    if entries > p.max_entries:
        raise unsafe(f"{entries} members, more than max_entries {p.max_entries}")
    if total > p.max_bytes:
        raise unsafe(f"{total} bytes unpacked, more than max_bytes {p.max_bytes}")
    probe = dest
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    free = shutil.disk_usage(probe).free
    if total > free:
        raise ActionError(f"{total} bytes to unpack but {free} free under {probe}", code=ErrorCode.E002)


def _collisions(dest: str, names: list[str]) -> None:
    for rel in names:
        full = os.path.join(dest, rel)
        if os.path.lexists(full) and not os.path.isdir(full):
            raise ActionError(f"{full} exists; set overwrite to replace files", code=ErrorCode.A014)


def _detect(path: str, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    if zipfile.is_zipfile(path):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    raise InvalidParams(f"{path} is neither a tar nor a zip archive")


def _extract(archive: str, dest: str, p: ExtractParams, cancel: CancelToken) -> ExtractResult:
    os.stat(archive)
    fmt = _detect(archive, p.format)
    members: list[Member] = []
    if fmt == "tar":
        try:
            tar = tarfile.open(archive, "r:*")
        except tarfile.TarError as exc:
            raise InvalidParams(f"{archive}: not a readable tar archive ({exc})") from exc
        with tar:
            plan = _tar_plan(tar, dest, p)
            members = [Member(m.name, _kind(m), m.size) for m in plan]
            total = sum(m.size for m in plan)
            _check_bounds(dest, len(plan), total, p)
            if not p.list_only:
                if not p.overwrite:
                    _collisions(dest, [m.name for m in plan if not m.isdir()])
                os.makedirs(dest, exist_ok=True)
                for m in plan:
                    cancel.check()
                    _inside(dest, posixpath.dirname(m.name) or ".")
                    tar.extract(m, dest, filter="data")
    else:
        with zipfile.ZipFile(archive) as zf:
            zplan = _zip_plan(zf, p)
            members = [Member(rel, "dir" if i.is_dir() else "file", i.file_size) for i, rel in zplan]
            total = sum(i.file_size for i, _ in zplan)
            _check_bounds(dest, len(zplan), total, p)
            if not p.list_only:
                if not p.overwrite:
                    _collisions(dest, [rel for i, rel in zplan if not i.is_dir()])
                os.makedirs(dest, exist_ok=True)
                for info, rel in zplan:
                    cancel.check()
                    _inside(dest, rel)
                    target = os.path.join(dest, rel)
                    if info.is_dir():
                        os.makedirs(target, exist_ok=True)
                        continue
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with zf.open(info) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    mode = (info.external_attr >> 16) & 0o777
                    os.chmod(target, mode & 0o755 if mode else 0o644)
    return ExtractResult(
        archive=archive,
        dest=dest,
        format=fmt,
        entries=len(members),
        bytes=total,
        members=members[:1000],
        extracted=not p.list_only,
    )


@action("file.extract", risk=Risk.CHANGE, timeout=1800)
async def extract(ctx: ActionContext, p: ExtractParams) -> ExtractResult:
    """Unpack ``archive`` into ``dest`` after checking every member is safe (or just list it)."""
    archive = abs_path(p.archive, "archive")
    dest = abs_path(p.dest, "dest")
    if dest == "/":
        raise unsafe("extracting into / is not allowed")
    try:
        with fs_errors():
            return await ctx.to_thread(_extract, archive, dest, p, cancellable=True)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise InvalidParams(f"{archive}: corrupt archive ({exc})") from exc
