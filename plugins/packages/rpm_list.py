"""Installed RPM packages, optionally the most recently installed first.

``rpm.list`` lists the RPM database (``rpm -qa``) with name, epoch-version-
release, architecture, install time, size and summary, filtered by a name
pattern (``kernel*``). With ``recent`` it returns only the N packages
installed last, newest first, which answers "what changed on this host
yesterday?". The count and total size come with it. With ``root`` it reads an
image's or chroot's database. Read only.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action, root_dir

from ._common import pattern
from ._rpm import evr, none, rpm

PLUGIN = Plugin(
    "rpm.list", domain="packages", requires=["rpm"]
)

_QF = "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{INSTALLTIME}\\t%{SIZE}\\t%{SUMMARY}\\n"


class RpmListParams(msgspec.Struct, forbid_unknown_fields=True):
    pattern: str | None = None
    recent: Annotated[int, msgspec.Meta(ge=1, le=10000)] | None = None
    """Only the N most recently installed packages, newest first."""
    root: str | None = None


class RpmRow(msgspec.Struct):
    name: str
    evr: str
    arch: str
    install_time: int
    size: int
    summary: str


class RpmList(msgspec.Struct):
    packages: list[RpmRow]
    count: int
    total_size: int


def parse_rows(text: str) -> list[RpmRow]:
    rows = []
    for line in text.splitlines():
        f = line.split("\t", 7)
        if len(f) < 8:
            continue
        rows.append(
            RpmRow(
                name=f[0],
                evr=evr(f[1], f[2], f[3]),
                arch=none(f[4]),
                install_time=int(f[5]) if f[5].isdigit() else 0,
                size=int(f[6]) if f[6].isdigit() else 0,
                summary=f[7],
            )
        )
    return rows


@action("rpm.list", risk=Risk.READ, timeout=60)
async def rpm_list(ctx: ActionContext, p: RpmListParams) -> RpmList:
    """Installed packages with version, arch, install time and size; filter or newest N."""
    args = ["-qa", "--qf", _QF, *([pattern(p.pattern)] if p.pattern else [])]
    res = await rpm(ctx, args, root_dir(p.root))
    if res.exit_code != 0:
        raise ActionError(f"rpm -qa failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res)
    rows = parse_rows(res.stdout)
    if p.recent is not None:
        rows = sorted(rows, key=lambda r: r.install_time, reverse=True)[: p.recent]
    else:
        rows.sort(key=lambda r: r.name)
    return RpmList(packages=rows, count=len(rows), total_size=sum(r.size for r in rows))
