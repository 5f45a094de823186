"""Installed Debian packages: name, version, architecture, state and size.

``deb.list`` lists the dpkg database (``dpkg-query -W``), by default only the
installed packages, optionally filtered by a name pattern (``linux-image*``)
or by state: ``held`` (pinned by ``apt-mark hold``), ``config-files``
(removed but configuration left behind), ``broken`` (half-installed,
half-configured or needing reinstallation) or ``all``. It returns the count
and the total installed size as well. With ``root`` it reads an image's or
chroot's database. Read only.
"""

from __future__ import annotations

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    Plugin,
    Risk,
    action,
    root_dir,
)

from ._common import pattern

PLUGIN = Plugin(
    "deb.list", domain="packages", requires=["dpkg-query"]
)

_FORMAT = "${binary:Package}\\t${Version}\\t${Architecture}\\t${db:Status-Abbrev}\\t${Installed-Size}\\t${binary:Summary}\\n"
_STATES = ("installed", "held", "config-files", "broken", "all")
_DESIRED = {"u": "unknown", "i": "install", "h": "hold", "r": "remove", "p": "purge"}
_STATUS = {
    "n": "not-installed",
    "c": "config-files",
    "H": "half-installed",
    "U": "unpacked",
    "F": "half-configured",
    "W": "triggers-awaited",
    "t": "triggers-pending",
    "i": "installed",
}


class DebListParams(msgspec.Struct, forbid_unknown_fields=True):
    pattern: str | None = None
    state: str = "installed"
    root: str | None = None


class DebRow(msgspec.Struct):
    name: str
    version: str
    architecture: str
    status: str
    desired: str
    held: bool
    needs_reinstall: bool
    installed_size: int
    summary: str


class DebList(msgspec.Struct):
    packages: list[DebRow]
    count: int
    total_size: int
    """Bytes, summed over the listed packages."""


def parse_rows(text: str) -> list[DebRow]:
    rows = []
    for line in text.splitlines():
        f = line.split("\t")
        if len(f) < 6:
            continue
        abbrev = f[3].ljust(3)
        size = f[4].strip()
        rows.append(
            DebRow(
                name=f[0],
                version=f[1],
                architecture=f[2],
                status=_STATUS.get(abbrev[1], abbrev[1]),
                desired=_DESIRED.get(abbrev[0], abbrev[0]),
                held=abbrev[0] == "h",
                needs_reinstall=abbrev[2] == "R",
                installed_size=int(size) * 1024 if size.isdigit() else 0,
                summary=f[5],
            )
        )
    return rows


def _keep(row: DebRow, state: str) -> bool:
    if state == "all":
        return row.status != "not-installed" or row.desired != "unknown"
    if state == "installed":
        return row.status == "installed"
    if state == "held":
        return row.held
    if state == "config-files":
        return row.status == "config-files"
    return row.needs_reinstall or row.status in (
        "half-installed",
        "unpacked",
        "half-configured",
        "triggers-awaited",
    )


@action("deb.list", risk=Risk.READ, timeout=60)
async def deb_list(ctx: ActionContext, p: DebListParams) -> DebList:
    """Packages in the dpkg database with version, arch, state and size; filter by name or state."""
    if p.state not in _STATES:
        raise InvalidParams(f"state: {p.state!r} is not one of {', '.join(_STATES)}")
    root = root_dir(p.root)
    argv = ["dpkg-query", *([f"--root={root}"] if root else []), "-W", f"-f={_FORMAT}"]
    if p.pattern is not None:
        argv += ["--", pattern(p.pattern)]
    res = await ctx.run(argv, c_locale=True)
    if res.exit_code != 0 and "no packages found" not in res.stderr:
        raise ActionError(f"dpkg-query failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res)
    rows = [r for r in parse_rows(res.stdout) if _keep(r, p.state)]
    return DebList(packages=rows, count=len(rows), total_size=sum(r.installed_size for r in rows))
