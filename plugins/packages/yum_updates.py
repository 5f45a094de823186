"""Pending package updates on an RPM host (dnf/yum), security ones marked.

``yum.updates`` runs ``dnf check-update`` (``yum`` on older systems) and
returns every package with a newer version in the enabled repositories:
name, architecture, new version and repository; with ``security`` it also
asks ``updateinfo`` which updates fix security advisories and marks them.
dnf may refresh its metadata cache to answer, which needs the repositories
to be reachable. Changes nothing installed.
"""

from __future__ import annotations

import re
import shutil

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action


def _check() -> str | None:
    """``dnf`` or ``yum`` on PATH."""
    return (
        None if shutil.which("dnf") or shutil.which("yum") else "neither dnf nor yum is installed"
    )


PLUGIN = Plugin("yum.updates", domain="packages", check=_check)

_ROW = re.compile(r"^(\S+)\.(\w+)\s+(\S+)\s+(\S+)\s*$")


class YumUpdatesParams(msgspec.Struct, forbid_unknown_fields=True):
    security: bool = False
    cache_only: bool = False
    """Answer from the metadata already cached (``-C``), without network."""


class YumUpdate(msgspec.Struct):
    package: str
    arch: str
    version: str
    repository: str
    security: bool


class YumUpdates(msgspec.Struct):
    updates: list[YumUpdate]
    count: int
    security: int


def parse_check_update(text: str) -> list[YumUpdate]:
    out = []
    for line in text.splitlines():
        if line.startswith(("Obsoleting", "Security:")):
            break
        m = _ROW.match(line)
        if m:
            out.append(
                YumUpdate(
                    package=m.group(1),
                    arch=m.group(2),
                    version=m.group(3),
                    repository=m.group(4),
                    security=False,
                )
            )
    return out


def parse_security(text: str) -> set[str]:
    """Package names from ``updateinfo list --security`` (``ADVISORY  TYPE  NEVRA``)."""
    names = set()
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 3 and ("/Sec" in f[1] or f[1].lower() == "security"):
            nevra = f[-1]
            m = re.match(r"^(.+)-[^-]+-[^-]+\.\w+$", nevra)
            names.add(m.group(1) if m else nevra)
    return names


@action("yum.updates", risk=Risk.READ, timeout=600)
async def updates(ctx: ActionContext, p: YumUpdatesParams) -> YumUpdates:
    """Packages with a newer version: name, arch, version, repository, security flag."""
    exe = shutil.which("dnf") or shutil.which("yum") or "dnf"
    base = [exe, "-q", *(["-C"] if p.cache_only else [])]
    res = await ctx.run([*base, "check-update"], c_locale=True)
    # check-update: 0 = nothing to update, 100 = updates listed, anything else = error.
    if res.exit_code not in (0, 100):
        raise ActionError(
            f"{exe} check-update failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
        )
    found = parse_check_update(res.stdout)
    if p.security and found:
        sec = await ctx.run([*base, "updateinfo", "list", "--security"], c_locale=True)
        names = parse_security(sec.stdout)
        for u in found:
            u.security = u.package in names
    return YumUpdates(updates=found, count=len(found), security=sum(1 for u in found if u.security))
