"""Report how much space logs take: per log family, biggest files, deleted-but-open logs.

``log.size`` walks a log directory (``/var/log`` by default) and groups each
file with its rotated generations (``app.log``, ``app.log.1``,
``app.log.2.gz`` → family ``app.log``), giving live and rotated bytes per
family, the biggest families and files, and the share of the filesystem the
logs use. It also finds log files that were deleted while a process still
holds them open — space ``du`` cannot see and only a restart or truncation
frees — with the holding process. It only reads.
"""

from __future__ import annotations

import os
import shutil
import stat as st
from typing import Annotated

import msgspec

from agent_core import ActionContext, CancelToken, InvalidParams, Plugin, Risk, abs_path, action
from plugins._fs import WalkStats, fs_errors, walk

from ._common import family

PLUGIN = Plugin("log.size", domain="logs")


class SizeParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str = "/var/log"
    top: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20
    deleted: bool = True


class Family(msgspec.Struct):
    name: str
    bytes: int
    live_bytes: int
    rotated_bytes: int
    rotated_files: int


class BigFile(msgspec.Struct):
    path: str
    bytes: int
    mtime: float


class DeletedOpen(msgspec.Struct):
    path: str
    bytes: int
    pid: int
    process: str
    fd: int


class SizeReport(msgspec.Struct):
    path: str
    bytes: int
    files: int
    rotated_bytes: int
    fs_size: int
    fs_used: int
    fs_share: float
    families: list[Family]
    largest: list[BigFile]
    deleted_open: list[DeletedOpen]
    truncated: bool


def deleted_open_files(under: str) -> list[DeletedOpen]:
    """Files under ``under`` that are deleted but still open, from ``/proc/*/fd``."""
    found: list[DeletedOpen] = []
    prefix = under.rstrip("/") + "/"
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
                if not (target.endswith(" (deleted)") and target.startswith(prefix)):
                    continue
                size = os.stat(f"{fd_dir}/{fd}").st_size
                with open(f"/proc/{pid}/comm") as fh:
                    comm = fh.read().strip()
            except OSError:
                continue  # the process or the fd went away
            found.append(DeletedOpen(path=target[: -len(" (deleted)")], bytes=size, pid=int(pid), process=comm, fd=int(fd)))
    found.sort(key=lambda d: -d.bytes)
    return found


def _report(root: str, p: SizeParams, cancel: CancelToken) -> SizeReport:
    with fs_errors(root):
        if not st.S_ISDIR(os.stat(root).st_mode):
            raise InvalidParams(f"{root} is not a directory")
        usage = shutil.disk_usage(root)
    stats = WalkStats()
    families: dict[str, Family] = {}
    files: list[BigFile] = []
    total = rotated = 0
    for path, s, _ in walk(root, stats, max_depth=16, max_entries=1_000_000, cancel=cancel):
        if not st.S_ISREG(s.st_mode):
            continue
        size = s.st_blocks * 512  # what the file really costs on disk (sparse lastlog is huge "apparently")
        directory, name = os.path.split(path)
        fam_name = os.path.join(directory, family(name))
        fam = families.setdefault(fam_name, Family(fam_name, 0, 0, 0, 0))
        fam.bytes += size
        total += size
        if fam_name == path:
            fam.live_bytes += size
        else:
            fam.rotated_bytes += size
            fam.rotated_files += 1
            rotated += size
        files.append(BigFile(path=path, bytes=size, mtime=s.st_mtime))
    top_fams = sorted(families.values(), key=lambda f: (-f.bytes, f.name))[: p.top]
    top_files = sorted(files, key=lambda f: (-f.bytes, f.path))[: p.top]
    used = usage.total - usage.free
    return SizeReport(
        path=root,
        bytes=total,
        files=len(files),
        rotated_bytes=rotated,
        fs_size=usage.total,
        fs_used=used,
        fs_share=round(total / used, 4) if used else 0.0,
        families=top_fams,
        largest=top_files,
        deleted_open=deleted_open_files(root) if p.deleted else [],
        truncated=stats.truncated,
    )


@action("log.size", risk=Risk.READ, timeout=300)
async def size(ctx: ActionContext, p: SizeParams) -> SizeReport:
    """Space used by logs under ``path``: families, biggest files, deleted-but-open files."""
    return await ctx.to_thread(_report, abs_path(p.path), p, cancellable=True)
