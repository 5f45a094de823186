"""Which installed package owns a file (dpkg and rpm).

``pkg.owner`` asks every package database on the host (``dpkg -S``,
``rpm -qf``) which package installed a path. It copes with merged ``/usr``
(``/bin/sh`` recorded, ``/usr/bin/sh`` asked, or the reverse) and symlinked
paths by also trying the path's aliases, and reports the exact path the
database recorded. A file no package owns is a normal answer (``owned``
false): it was put there by hand or by a script. With ``root`` it asks an
image's or chroot's databases. Read only.
"""

from __future__ import annotations

import os
import re
import shutil

import msgspec

from agent_core import ActionContext, Plugin, Risk, abs_path, action, root_dir


def _check() -> str | None:
    """``dpkg`` or ``rpm`` on PATH."""
    if shutil.which("dpkg") or shutil.which("rpm"):
        return None
    return "neither dpkg nor rpm is installed"


PLUGIN = Plugin("pkg.owner", domain="packages", check=_check)

_MERGED = re.compile(r"^/(bin|sbin|lib|lib32|lib64|libx32)/")


class OwnerParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str
    root: str | None = None


class Owner(msgspec.Struct):
    manager: str
    package: str
    recorded_path: str


class Ownership(msgspec.Struct):
    path: str
    owned: bool
    owners: list[Owner]


def aliases(root: str, path: str) -> list[str]:
    """``path`` first, then its merged-/usr twin and its resolved form."""
    out = [path]
    if _MERGED.match(path):
        out.append("/usr" + path)
    elif path.startswith("/usr/") and _MERGED.match(path[4:]):
        out.append(path[4:])
    real = os.path.realpath(os.path.join(root, path.lstrip("/")))
    if root != "/":
        real = (
            "/" + os.path.relpath(real, root) if real.startswith(root.rstrip("/") + "/") else path
        )
    if real not in out:
        out.append(real)
    return out


async def _dpkg(ctx: ActionContext, path: str, root: str | None) -> list[Owner]:
    res = await ctx.run(
        ["dpkg", *([f"--root={root}"] if root else []), "-S", "--", path], c_locale=True
    )
    owners = []
    for line in res.stdout.splitlines():
        if line.startswith(("diversion by", "local diversion")):
            continue
        pkgs, sep, recorded = line.rpartition(": ")
        if sep and recorded == path:
            owners += [
                Owner(manager="dpkg", package=p.strip(), recorded_path=recorded)
                for p in pkgs.split(",")
            ]
    return owners


async def _rpm(ctx: ActionContext, path: str, root: str | None) -> list[Owner]:
    res = await ctx.run(
        ["rpm", *(["--root", root] if root else []), "-qf", "--qf", "%{NAME}\\n", "--", path],
        c_locale=True,
    )
    if res.exit_code != 0:
        return []
    return [
        Owner(manager="rpm", package=ln.strip(), recorded_path=path)
        for ln in res.stdout.splitlines()
        if ln.strip()
    ]


@action("pkg.owner", risk=Risk.READ, timeout=60)
async def owner(ctx: ActionContext, p: OwnerParams) -> Ownership:
    """The package(s) that installed ``path``, trying merged-/usr and symlink aliases."""
    path = abs_path(p.path)
    root = root_dir(p.root)
    owners: list[Owner] = []
    for candidate in aliases(root or "/", path):
        if shutil.which("dpkg"):
            owners += await _dpkg(ctx, candidate, root)
        if shutil.which("rpm"):
            owners += await _rpm(ctx, candidate, root)
        if owners:
            break
    return Ownership(path=path, owned=bool(owners), owners=owners)
