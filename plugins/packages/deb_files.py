"""Files a Debian package installed, and which of them are missing now.

``deb.files`` lists what dpkg recorded for a package (``dpkg-query -L``):
every path, which ones are directories, which are configuration files, and
diversions (another package moved the file away). With ``check_missing`` it
also looks at the disk and lists the recorded files that are gone, the
quickest way to find a package broken by a careless ``rm``. With ``root`` it
reads an image or chroot. Read only.
"""

from __future__ import annotations

import os

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    NotFound,
    Plugin,
    Risk,
    action,
    root_dir,
)

from ._common import deb_name

PLUGIN = Plugin(
    "deb.files", domain="packages", requires=["dpkg-query"]
)


class DebFilesParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    root: str | None = None
    check_missing: bool = False
    include_dirs: bool = False


class Diversion(msgspec.Struct):
    path: str
    detail: str


class DebFiles(msgspec.Struct):
    name: str
    files: list[str]
    conffiles: list[str]
    diversions: list[Diversion]
    missing: list[str]
    """With ``check_missing``: recorded files that no longer exist."""


def _scan(root: str, paths: list[str], include_dirs: bool) -> tuple[list[str], list[str]]:
    """(listed, missing): drop directories unless asked, and find the vanished."""
    listed: list[str] = []
    missing: list[str] = []
    for path in paths:
        on_disk = os.path.join(root, path.lstrip("/"))
        if not os.path.lexists(on_disk):
            missing.append(path)
            listed.append(path)
        elif include_dirs or not os.path.isdir(on_disk):
            listed.append(path)
    return listed, missing


@action("deb.files", risk=Risk.READ, timeout=60)
async def deb_files(ctx: ActionContext, p: DebFilesParams) -> DebFiles:
    """The package's files, conffiles and diversions; optionally the ones missing on disk."""

    name = deb_name(p.name)
    root = root_dir(p.root)
    opts = [f"--root={root}"] if root else []
    res = await ctx.run(["dpkg-query", *opts, "-L", "--", name], c_locale=True)
    if res.exit_code != 0:
        if "not installed" in res.stderr:
            raise NotFound(f"package {name} is not installed")
        raise ActionError(f"dpkg-query failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res)
    paths: list[str] = []
    diversions: list[Diversion] = []
    for line in res.stdout.splitlines():
        if line.startswith(("diverted by", "package diverts others to", "locally diverted to")):
            diversions.append(Diversion(path=paths[-1] if paths else "", detail=line.strip()))
        elif line.startswith("/") and line != "/.":
            paths.append(line)
    conf = await ctx.run(["dpkg-query", *opts, "-W", "-f=${Conffiles}\\n", "--", name], c_locale=True)
    conffiles = [ln.split()[0] for ln in conf.stdout.splitlines() if ln.strip()]
    listed, missing = await ctx.to_thread(_scan, root or "/", paths, p.include_dirs)
    return DebFiles(
        name=name,
        files=listed,
        conffiles=conffiles,
        diversions=diversions,
        missing=missing if p.check_missing else [],
    )
