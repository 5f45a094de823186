"""Everything the RPM database knows about one package.

``rpm.info`` queries the RPM database for one package name and returns each
installed instance (several for kernels or multilib): epoch-version-release,
architecture, install and build time, size, vendor, packager, license, URL,
source RPM, summary and description, and what it requires and provides. A
package that is not installed fails with ``A017``. With ``root`` it reads an
image's or chroot's database. Read only.
"""

from __future__ import annotations

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

from ._common import rpm_name
from ._rpm import END, evr, none, rpm

PLUGIN = Plugin(
    "rpm.info", domain="packages", requires=["rpm"]
)

_TAGS = (
    "NAME",
    "EPOCH",
    "VERSION",
    "RELEASE",
    "ARCH",
    "INSTALLTIME",
    "BUILDTIME",
    "SIZE",
    "VENDOR",
    "PACKAGER",
    "LICENSE",
    "URL",
    "SOURCERPM",
    "SUMMARY",
)
_QF = (
    "".join(f"{t}=%{{{t}}}\\n" for t in _TAGS)
    + "REQUIRES=[%{REQUIRENEVRS}, ]\\nPROVIDES=[%{PROVIDENEVRS}, ]\\nDESCRIPTION=%{DESCRIPTION}\\n"
    + END
    + "\\n"
)


class RpmInfoParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    root: str | None = None


class RpmPackage(msgspec.Struct):
    name: str
    evr: str
    version: str
    release: str
    epoch: str
    arch: str
    install_time: int
    build_time: int
    size: int
    vendor: str
    packager: str
    license: str
    url: str
    source_rpm: str
    summary: str
    description: str
    requires: list[str]
    provides: list[str]


class RpmInfo(msgspec.Struct):
    packages: list[RpmPackage]


def _int(value: str) -> int:
    return int(value) if value.isdigit() else 0


def parse_blocks(text: str) -> list[RpmPackage]:
    out = []
    for block in text.split(END + "\n"):
        if not block.strip():
            continue
        head, _, desc = block.partition("DESCRIPTION=")
        f: dict[str, str] = {}
        for line in head.splitlines():
            k, sep, v = line.partition("=")
            if sep:
                f[k] = none(v)
        out.append(
            RpmPackage(
                name=f.get("NAME", ""),
                evr=evr(f.get("EPOCH", ""), f.get("VERSION", ""), f.get("RELEASE", "")),
                version=f.get("VERSION", ""),
                release=f.get("RELEASE", ""),
                epoch=f.get("EPOCH", ""),
                arch=f.get("ARCH", ""),
                install_time=_int(f.get("INSTALLTIME", "")),
                build_time=_int(f.get("BUILDTIME", "")),
                size=_int(f.get("SIZE", "")),
                vendor=f.get("VENDOR", ""),
                packager=f.get("PACKAGER", ""),
                license=f.get("LICENSE", ""),
                url=f.get("URL", ""),
                source_rpm=f.get("SOURCERPM", ""),
                summary=f.get("SUMMARY", ""),
                description=desc.strip(),
                requires=[r for r in f.get("REQUIRES", "").split(", ") if r],
                provides=[r for r in f.get("PROVIDES", "").split(", ") if r],
            )
        )
    return out


@action("rpm.info", risk=Risk.READ, timeout=30)
async def info(ctx: ActionContext, p: RpmInfoParams) -> RpmInfo:
    """Version, arch, times, size, vendor, license, requires/provides of an installed package."""
    name = rpm_name(p.name)
    res = await rpm(ctx, ["-q", "--qf", _QF, "--", name], root_dir(p.root))
    if res.exit_code != 0:
        if "is not installed" in res.stdout + res.stderr:
            raise NotFound(f"package {name} is not installed")
        raise ActionError(f"rpm -q failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res)
    return RpmInfo(packages=parse_blocks(res.stdout))
