"""Find setuid and setgid files under a directory and flag those no package installed.

``sec.suid`` walks a tree (``/`` by default; one filesystem, no symlinks
followed, /proc /sys /dev /run skipped, bounded) for regular files with the
setuid or setgid bit, the classic way to keep root after a break-in. Each
hit comes with owner, mode, size and mtime, and — on dpkg hosts, from the
package file lists — whether any installed package owns it: a setuid root
binary that no package shipped deserves a look. It only reads.
"""

from __future__ import annotations

import glob
import os
import stat as st
from typing import Annotated

import msgspec

from agent_core import ActionContext, CancelToken, Plugin, Risk, action
from plugins._fs import WalkStats, dir_path, group_name, mode_str, user_name, walk

PLUGIN = Plugin("sec.suid", domain="security")

DPKG_INFO = "/var/lib/dpkg/info"


class SuidParams(msgspec.Struct, forbid_unknown_fields=True):
    root: str = "/"
    xdev: bool = True
    max_entries: Annotated[int, msgspec.Meta(ge=1, le=50_000_000)] = 5_000_000
    max_results: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 5000
    check_packages: bool = True


class SuidFile(msgspec.Struct, omit_defaults=True):
    path: str
    setuid: bool
    setgid: bool
    owner: str
    group: str
    mode: str
    size: int
    mtime: float
    packaged: bool | None = None


class SuidReport(msgspec.Struct):
    root: str
    files: list[SuidFile]
    unpackaged: int
    scanned: int
    errors: int
    truncated: bool


def packaged_paths(info_dir: str = DPKG_INFO) -> set[str] | None:
    """Every path some dpkg package installed, or None when this is not a dpkg host."""
    if not os.path.isdir(info_dir):
        return None
    paths: set[str] = set()
    for listing in glob.glob(os.path.join(info_dir, "*.list")):
        try:
            with open(listing, errors="replace") as fh:
                paths.update(line.rstrip("\n") for line in fh)
        except OSError:
            continue
    return paths


def _owned(path: str, known: set[str]) -> bool:
    # dpkg records the path it unpacked; with merged /usr, /bin/su may be listed as /usr/bin/su.
    if path in known:
        return True
    real = os.path.realpath(path)
    alt = real[4:] if real.startswith("/usr/") else "/usr" + real
    return real in known or alt in known


def _scan(root: str, p: SuidParams, cancel: CancelToken) -> SuidReport:
    stats = WalkStats()
    known = packaged_paths() if p.check_packages else None
    files: list[SuidFile] = []
    truncated = False
    for path, s, _ in walk(root, stats, max_depth=256, max_entries=p.max_entries, xdev=p.xdev, cancel=cancel):
        if not st.S_ISREG(s.st_mode) or not s.st_mode & (st.S_ISUID | st.S_ISGID):
            continue
        if len(files) >= p.max_results:
            truncated = True
            break
        files.append(
            SuidFile(
                path=path,
                setuid=bool(s.st_mode & st.S_ISUID),
                setgid=bool(s.st_mode & st.S_ISGID),
                owner=user_name(s.st_uid),
                group=group_name(s.st_gid),
                mode=mode_str(s.st_mode),
                size=s.st_size,
                mtime=s.st_mtime,
                packaged=_owned(path, known) if known is not None else None,
            )
        )
    return SuidReport(
        root=root,
        files=files,
        unpackaged=sum(1 for f in files if f.packaged is False),
        scanned=stats.scanned,
        errors=stats.errors,
        truncated=truncated or stats.truncated,
    )


@action("sec.suid", risk=Risk.READ, timeout=900)
async def suid(ctx: ActionContext, p: SuidParams) -> SuidReport:
    """Setuid/setgid files under ``root``, each flagged if no installed package owns it."""
    return await ctx.to_thread(_scan, dir_path(p.root), p, cancellable=True)
