"""Everything dpkg knows about one Debian package.

``deb.info`` reads the dpkg database (``dpkg-query -s``) for one package:
its state (installed, config-files left, half-configured...), version,
architecture, source package, maintainer, section, installed size, homepage,
its dependencies split into alternatives, its configuration files with their
original checksums, and the description. A package dpkg has never heard of
fails with ``A017``. With ``root`` it reads an image's or chroot's database.
"""

from __future__ import annotations

import re

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

from ._common import deb_name, parse_paragraphs

PLUGIN = Plugin(
    "deb.info", domain="packages", requires=["dpkg-query"]
)

_REL_FIELDS = (
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Conflicts",
    "Breaks",
    "Replaces",
    "Provides",
)


class DebInfoParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    root: str | None = None


class Conffile(msgspec.Struct):
    path: str
    md5: str
    obsolete: bool = False


class DebPackage(msgspec.Struct):
    name: str
    installed: bool
    status: str
    """``want flag state`` from dpkg, e.g. ``install ok installed``."""
    version: str
    architecture: str
    source: str
    maintainer: str
    section: str
    priority: str
    installed_size: int
    """Bytes (dpkg records KiB)."""
    homepage: str
    essential: bool
    summary: str
    description: str
    relations: dict[str, list[list[str]]]
    """``Depends`` etc.: a list of alternatives, each a list of ``name (op version)``."""
    conffiles: list[Conffile]


def relations(value: str) -> list[list[str]]:
    return [
        [alt.strip() for alt in group.split("|") if alt.strip()]
        for group in value.split(",")
        if group.strip()
    ]


def to_package(f: dict[str, str]) -> DebPackage:
    desc = f.get("Description", "")
    summary, _, long = desc.partition("\n")
    conffiles = []
    for line in f.get("Conffiles", "").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            conffiles.append(
                Conffile(path=parts[0], md5=parts[1], obsolete="obsolete" in parts[2:])
            )
    status = f.get("Status", "")
    size = f.get("Installed-Size", "0")
    return DebPackage(
        name=f.get("Package", ""),
        installed=status.endswith(" installed"),
        status=status,
        version=f.get("Version", ""),
        architecture=f.get("Architecture", ""),
        source=re.sub(r"\s*\(.*\)", "", f.get("Source", "")) or f.get("Package", ""),
        maintainer=f.get("Maintainer", ""),
        section=f.get("Section", ""),
        priority=f.get("Priority", ""),
        installed_size=int(size) * 1024 if size.isdigit() else 0,
        homepage=f.get("Homepage", ""),
        essential=f.get("Essential", "") == "yes",
        summary=summary,
        description=long.strip(),
        relations={k: relations(f[k]) for k in _REL_FIELDS if k in f},
        conffiles=conffiles,
    )


@action("deb.info", risk=Risk.READ, timeout=20)
async def info(ctx: ActionContext, p: DebInfoParams) -> DebPackage:
    """State, version, source, size, dependencies, conffiles and description of a package."""
    name = deb_name(p.name)
    root = root_dir(p.root)
    res = await ctx.run(
        ["dpkg-query", *([f"--root={root}"] if root else []), "-s", "--", name], c_locale=True
    )
    if res.exit_code != 0:
        err = res.stderr.strip()
        if (
            "not installed" in err
            or "no packages found" in err.lower()
            or "is not available" in err
        ):
            raise NotFound(f"package {name} is not known to dpkg")
        raise ActionError(f"dpkg-query failed: {err}", code=ErrorCode.A008, data=res)
    paragraphs = parse_paragraphs(res.stdout)
    if not paragraphs:
        raise NotFound(f"package {name} is not known to dpkg")
    return to_package(paragraphs[0])
