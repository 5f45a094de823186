"""Install or remove RPM packages with dnf (or yum), or preview what it would do.

``yum.install`` and ``yum.remove`` run ``dnf`` (``yum`` on older systems)
non-interactively and return the transaction as data: every package to be
installed, upgraded, downgraded, reinstalled or removed, with architecture,
version and repository, dependencies included. With ``dry_run`` the
transaction is resolved and shown but answered "no" (``--assumeno``), so
nothing changes. An unknown package fails with ``A017``.
"""

from __future__ import annotations

import re
import shutil

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

from ._common import Change, rpm_name


def manager() -> str | None:
    return shutil.which("dnf") or shutil.which("yum")


def _check() -> str | None:
    """``dnf`` or ``yum`` on PATH."""
    return None if manager() else "neither dnf nor yum is installed"


PLUGIN = Plugin("yum", domain="packages", check=_check)

_SECTIONS = {
    "installing": "install",
    "installing dependencies": "install",
    "installing weak dependencies": "install",
    "installing for dependencies": "install",
    "upgrading": "upgrade",
    "updating": "upgrade",
    "updating for dependencies": "upgrade",
    "downgrading": "downgrade",
    "reinstalling": "reinstall",
    "removing": "remove",
    "removing dependent packages": "remove",
    "removing unused dependencies": "remove",
    "removing for dependencies": "remove",
    "erasing": "remove",
}


class YumInstallParams(msgspec.Struct, forbid_unknown_fields=True):
    packages: list[str]
    dry_run: bool = False


class YumRemoveParams(msgspec.Struct, forbid_unknown_fields=True):
    packages: list[str]
    dry_run: bool = False


class YumTransaction(msgspec.Struct):
    manager: str
    dry_run: bool
    changes: list[Change]
    nothing_to_do: bool


def parse_transaction(text: str) -> list[Change]:
    """The package table dnf/yum print before asking "Is this ok"."""
    changes: list[Change] = []
    action = ""
    carry: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.lower().startswith("transaction summary"):
            break
        if stripped.endswith(":") and stripped[:-1].lower() in _SECTIONS:
            action, carry = _SECTIONS[stripped[:-1].lower()], []
            continue
        if not action or not stripped or not line.startswith(" "):
            continue
        fields = carry + line.split()
        if len(fields) < 4:
            carry = fields  # a long name wraps onto the next line
            continue
        carry = []
        name, arch, version, repo = fields[:4]
        changes.append(Change(action=action, package=name, version=version, arch=arch, origin=repo))
    return changes


def _specs(specs: list[str]) -> list[str]:
    if not 1 <= len(specs) <= 500:
        raise InvalidParams("packages: give between 1 and 500 packages")
    out = []
    for s in specs:
        # name, name-version or name-version-release.arch: all are word characters and .-+~^
        rpm_name(s, "packages")
        out.append(s)
    return out


async def _run(ctx: ActionContext, verb: str, specs: list[str], dry_run: bool) -> YumTransaction:
    exe = manager() or "dnf"
    argv = [exe, "--assumeno" if dry_run else "-y", verb, "--", *_specs(specs)]
    res = await ctx.run(argv, c_locale=True)
    out = res.stdout + res.stderr
    missing = re.findall(r"No match for argument: (\S+)|No package (\S+) available", out)
    if missing:
        names = sorted({a or b for a, b in missing})
        raise NotFound(f"no package named {', '.join(names)} in the enabled repositories")
    nothing = "Nothing to do" in out or "No packages marked for" in out
    changes = parse_transaction(res.stdout)
    # --assumeno answers the prompt "no": dnf then exits 1 ("Operation aborted").
    if res.exit_code != 0 and not (dry_run and changes) and not nothing:
        if "lock" in out.lower() and "waiting" in out.lower():
            raise ActionError(
                "another package manager holds the rpm lock", code=ErrorCode.A014, data=res
            )
        errors = [ln for ln in out.splitlines() if ln.startswith("Error")]
        raise ActionError(
            f"{exe} {verb} failed: {errors[-1] if errors else res.exit_code}",
            code=ErrorCode.A014,
            data=res,
        )
    return YumTransaction(
        manager=exe.rsplit("/", 1)[-1], dry_run=dry_run, changes=changes, nothing_to_do=nothing
    )


@action("yum.install", risk=Risk.CHANGE, timeout=1800, streams=True)
async def install(ctx: ActionContext, p: YumInstallParams) -> YumTransaction:
    """Install or upgrade packages with dnf/yum; ``dry_run`` resolves but changes nothing."""
    return await _run(ctx, "install", p.packages, p.dry_run)


@action("yum.remove", risk=Risk.DANGER, timeout=1800, streams=True)
async def remove(ctx: ActionContext, p: YumRemoveParams) -> YumTransaction:
    """Remove packages (and what depends on them) with dnf/yum; ``dry_run`` changes nothing."""
    return await _run(ctx, "remove", p.packages, p.dry_run)
