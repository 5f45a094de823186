"""Pending package upgrades on a Debian/Ubuntu host, security ones marked.

``apt.upgrades`` asks apt which installed packages have a newer candidate by
simulating an upgrade (``apt-get -s upgrade``, or ``dist-upgrade`` which may
also add or remove packages) against the package lists already on the host;
it does not download anything and changes nothing. Each upgrade comes with
its current and new version and origin, flagged when it comes from a
security archive, plus the packages apt would keep back. Refresh the lists
first (``apt-get update``) for an up-to-date answer.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action

from ._common import Change, is_security, parse_apt_simulation

PLUGIN = Plugin(
    "apt.upgrades", domain="packages", requires=["apt-get"]
)


class UpgradesParams(msgspec.Struct, forbid_unknown_fields=True):
    dist_upgrade: bool = False
    security_only: bool = False


class Upgrade(msgspec.Struct):
    package: str
    current: str
    candidate: str
    origin: str
    arch: str
    security: bool


class Upgrades(msgspec.Struct):
    upgrades: list[Upgrade]
    count: int
    security: int
    kept_back: list[str]
    other_changes: list[Change]
    """New or removed packages a dist-upgrade would bring along."""
    lists_age_seconds: float | None
    """How old the package lists are (time since the last ``apt-get update``)."""


def kept_back(text: str) -> list[str]:
    out: list[str] = []
    grab = False
    for line in text.splitlines():
        if line.startswith("The following packages have been kept back"):
            grab = True
            continue
        if grab:
            if not line.startswith(" "):
                break
            out += line.split()
    return out


def _lists_age() -> float | None:
    import os
    import time

    newest = 0.0
    try:
        for entry in os.scandir("/var/lib/apt/lists"):
            if entry.name.endswith(("Packages", "Release", "InRelease", ".lz4", ".xz", ".gz")):
                newest = max(newest, entry.stat().st_mtime)
    except OSError:
        return None
    return round(time.time() - newest, 1) if newest else None


@action("apt.upgrades", risk=Risk.READ, timeout=300)
async def upgrades(ctx: ActionContext, p: UpgradesParams) -> Upgrades:
    """Packages with a newer candidate (current, new version, origin, security flag)."""
    verb = "dist-upgrade" if p.dist_upgrade else "upgrade"
    res = await ctx.run(["apt-get", "-s", "-q", "-o", "Debug::NoLocking=1", verb], c_locale=True)
    if res.exit_code != 0:
        raise ActionError(
            f"apt-get -s {verb} failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
        )
    found: list[Upgrade] = []
    other: list[Change] = []
    for c in parse_apt_simulation(res.stdout):
        if c.action == "upgrade":
            found.append(
                Upgrade(
                    package=c.package,
                    current=c.old_version,
                    candidate=c.version,
                    origin=c.origin,
                    arch=c.arch,
                    security=is_security(c.origin),
                )
            )
        else:
            other.append(c)
    if p.security_only:
        found = [u for u in found if u.security]
    return Upgrades(
        upgrades=found,
        count=len(found),
        security=sum(1 for u in found if u.security),
        kept_back=kept_back(res.stdout),
        other_changes=other,
        lists_age_seconds=_lists_age(),
    )
