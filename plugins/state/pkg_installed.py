"""Ensure a package is installed (any ``pkg.*`` backend), showing what an install would pull in.

``state.pkg.installed`` asks the package backend ``pkg.*`` uses (dpkg/apt
or rpm with dnf/yum) whether ``name`` (optionally at ``version``) is
installed. If it is, nothing changes. If not, ``dry_run`` simulates the
install and returns, as the diff, every package that would be installed or
upgraded with its version; a real run installs it non-interactively and
checks the database again. A package the repositories do not know is A017.
Needs dpkg or rpm; otherwise A003. Changes the host's packages (unless
``dry_run``).
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action, names
from plugins.packages import Backend, Change, available, choose

from ._common import StateResult

PLUGIN = Plugin("state.pkg.installed", domain="state", check=available)


class PkgParams(msgspec.Struct, forbid_unknown_fields=True):
    name: names.Package
    version: names.PackageVersion | None = None
    dry_run: bool = False


def diff_lines(changes: list[Change]) -> str:
    """``+ pkg version`` for an install, ``~ pkg old -> new`` for an upgrade, ``- pkg`` for a removal."""
    out = []
    for c in changes:
        if c.action in ("remove", "purge"):
            out.append(f"- {c.package} {c.old_version}".rstrip())
        elif c.old_version:
            out.append(f"~ {c.package} {c.old_version} -> {c.version}")
        else:
            out.append(f"+ {c.package} {c.version}".rstrip())
    return "".join(line + "\n" for line in out)


async def _install(ctx: ActionContext, be: Backend, spec: str, dry_run: bool) -> str:
    tx = await be.install(ctx, [spec], dry_run=dry_run, no_recommends=False, reinstall=False)
    return diff_lines(tx.changes)


@action("state.pkg.installed", risk=Risk.CHANGE, timeout=900)
async def installed(ctx: ActionContext, p: PkgParams) -> StateResult:
    """Ensure package ``name`` (at ``version``) is installed; dry-run lists what would come in."""
    be = choose()
    current = await be.installed(ctx, p.name)
    if current is not None and (p.version is None or current == p.version):
        return StateResult(
            name=p.name,
            changed=False,
            dry_run=p.dry_run,
            diff="",
            comment=f"{p.name} {current} is installed",
        )
    spec = p.name if p.version is None else f"{p.name}={p.version}"
    was = f" (installed: {current})" if current else ""
    # The simulation comes first in a real run too: its diff is what the run will do.
    diff = await _install(ctx, be, spec, dry_run=True)
    if p.dry_run:
        return StateResult(
            name=p.name, changed=True, dry_run=True, diff=diff, comment=f"would install {spec}{was}"
        )
    await _install(ctx, be, spec, dry_run=False)
    now = await be.installed(ctx, p.name)
    if now is None or (p.version is not None and now != p.version):
        raise ActionError(
            f"{spec} is still not installed after the install ran (found {now})",
            code=ErrorCode.A014,
        )
    return StateResult(
        name=p.name,
        changed=True,
        dry_run=False,
        diff=diff,
        comment=f"installed {p.name} {now}{was}",
    )
