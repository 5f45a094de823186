"""Which version apt would install for a package, and from where.

``pkg.apt.policy`` parses ``apt-cache policy`` for one or more packages: the
installed version, the candidate apt would install, and every version it
knows with its pin priority and the repositories offering it, so that a
"why does apt keep installing the old version?" question is answered by the
pins and priorities in front of you. Reads the local package lists only.
"""

from __future__ import annotations

import re

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    action,
)

from ._common import deb_name

PLUGIN = Plugin(
    "pkg.apt.policy", domain="packages", requires=["apt-cache"]
)


class PolicyParams(msgspec.Struct, forbid_unknown_fields=True):
    packages: list[str]


class Source(msgspec.Struct):
    priority: int
    source: str
    """``http://deb.debian.org/debian bookworm/main amd64 Packages`` or ``/var/lib/dpkg/status``."""


class Version(msgspec.Struct):
    version: str
    priority: int
    installed: bool
    sources: list[Source]


class Policy(msgspec.Struct):
    package: str
    installed: str
    """Empty when not installed."""
    candidate: str
    upgradable: bool
    versions: list[Version]


class Policies(msgspec.Struct):
    policies: list[Policy]


_VER = re.compile(r"^ (\*\*\*| {3}) (\S+) (-?\d+)$")
_SRC = re.compile(r"^ {8}(-?\d+) (.+)$")


def parse_policy(text: str) -> list[Policy]:
    out: list[Policy] = []
    cur: Policy | None = None
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            cur = Policy(
                package=line[:-1], installed="", candidate="", upgradable=False, versions=[]
            )
            out.append(cur)
        elif cur is None:
            continue
        elif line.startswith("  Installed:"):
            v = line.split(":", 1)[1].strip()
            cur.installed = "" if v == "(none)" else v
        elif line.startswith("  Candidate:"):
            v = line.split(":", 1)[1].strip()
            cur.candidate = "" if v == "(none)" else v
        elif m := _VER.match(line):
            cur.versions.append(
                Version(
                    version=m.group(2),
                    priority=int(m.group(3)),
                    installed=m.group(1) == "***",
                    sources=[],
                )
            )
        elif (m := _SRC.match(line)) and cur.versions:
            cur.versions[-1].sources.append(
                Source(priority=int(m.group(1)), source=m.group(2).strip())
            )
    for pol in out:
        pol.upgradable = bool(pol.installed and pol.candidate and pol.installed != pol.candidate)
    return out


@action("pkg.apt.policy", risk=Risk.READ, timeout=60)
async def policy(ctx: ActionContext, p: PolicyParams) -> Policies:
    """Installed and candidate version, and each known version with priority and sources."""
    if not 1 <= len(p.packages) <= 200:
        raise InvalidParams("packages: give between 1 and 200 package names")
    names = [deb_name(n, "packages") for n in p.packages]
    res = await ctx.run(["apt-cache", "policy", "--", *names], c_locale=True)
    if res.exit_code != 0:
        raise ActionError(
            f"apt-cache policy failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
        )
    found = parse_policy(res.stdout)
    missing = sorted(
        set(names) - {pol.package.split(":")[0] for pol in found} - {pol.package for pol in found}
    )
    if missing:
        raise NotFound(f"apt knows no package named {', '.join(missing)}")
    return Policies(policies=found)
