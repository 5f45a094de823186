"""Operating system identity from os-release: distribution, family, version, support end.

``sys.osrelease`` parses ``/etc/os-release`` (falling back to ``/usr/lib/os-release``)
completely, and adds what fleet tooling keys on: the distribution family
(debian, rhel, suse, arch, alpine, ...) from ``ID`` and ``ID_LIKE``, the native
package manager found on ``PATH``, the point release from ``/etc/debian_version``
or ``/etc/redhat-release``, and whether the release is past its published
``SUPPORT_END`` date. Reads only.
"""

from __future__ import annotations

import datetime
import shutil

import msgspec

from agent_core import (
    ActionContext,
    NoParams,
    NotFound,
    Plugin,
    Risk,
    action,
)
from agent_core.procfs import read

PLUGIN = Plugin("sys.osrelease", domain="system")

OS_RELEASE = ("/etc/os-release", "/usr/lib/os-release")
FAMILIES = ("debian", "rhel", "fedora", "suse", "arch", "alpine", "gentoo")
PACKAGE_MANAGERS = ("apt-get", "dnf", "yum", "zypper", "apk", "pacman", "emerge")


class OsInfo(msgspec.Struct):
    id: str
    name: str
    pretty_name: str
    version_id: str
    version_codename: str
    id_like: list[str]
    family: str
    package_manager: str
    point_release: str
    support_end: str
    supported: bool | None
    source: str
    fields: dict[str, str]


def parse_os_release(text: str) -> dict[str, str]:
    """Parse os-release (shell-style ``KEY=value``, optionally quoted, ``#`` comments)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        key, sep, value = line.partition("=")
        if not sep or not key or line.startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[key.strip()] = value
    return out


def family_of(fields: dict[str, str]) -> str:
    ids = [fields.get("ID", "").lower(), *fields.get("ID_LIKE", "").lower().split()]
    if "ubuntu" in ids:
        return "debian"
    if {"centos", "rocky", "almalinux", "ol", "amzn"} & set(ids):
        return "rhel"
    if {"opensuse", "sles", "opensuse-leap", "opensuse-tumbleweed"} & set(ids):
        return "suse"
    # ID_LIKE lists the closest relative first; ID itself wins over all of them.
    return next((i for i in ids if i in FAMILIES), ids[0] if ids[0] else "unknown")


@action("sys.osrelease", risk=Risk.READ, timeout=10)
async def os_info(ctx: ActionContext, p: NoParams) -> OsInfo:
    """Every os-release field plus family, package manager, point release and support status."""
    source, text = next(((path, t) for path in OS_RELEASE if (t := read(path)) is not None), ("", None))
    if text is None:
        raise NotFound("no os-release file (/etc/os-release, /usr/lib/os-release)")
    fields = parse_os_release(text)
    point = (read("/etc/debian_version") or read("/etc/redhat-release") or "").strip()
    support_end = fields.get("SUPPORT_END", "")
    supported = None
    if support_end:
        try:
            supported = datetime.date.fromisoformat(support_end) >= datetime.date.today()
        except ValueError:
            supported = None
    return OsInfo(
        id=fields.get("ID", "linux"),
        name=fields.get("NAME", "Linux"),
        pretty_name=fields.get("PRETTY_NAME", fields.get("NAME", "Linux")),
        version_id=fields.get("VERSION_ID", ""),
        version_codename=fields.get("VERSION_CODENAME", ""),
        id_like=fields.get("ID_LIKE", "").split(),
        family=family_of(fields),
        package_manager=next((pm for pm in PACKAGE_MANAGERS if shutil.which(pm)), ""),
        point_release=point,
        support_end=support_end,
        supported=supported,
        source=source,
        fields=fields,
    )
