"""Install or remove Debian packages with apt, or preview what it would do.

``apt.install`` and ``apt.remove`` run ``apt-get`` non-interactively
(keeping locally edited configuration files on upgrade) and return the
transaction apt carried out: every package installed, upgraded, removed or
purged with old and new versions. With ``dry_run`` apt only simulates
(``apt-get -s``) and nothing changes, which is how to preview a fleet-wide
change. Versions are pinned with ``name=version``; a local ``.deb`` is given
by its absolute path (its dependencies come from the repositories). An
unknown package fails with ``A017``; another package manager holding the
lock fails with ``A014``.
"""

from __future__ import annotations

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

from ._common import Change, deb_spec, parse_apt_simulation

PLUGIN = Plugin(
    "apt", domain="packages", requires=["apt-get", "dpkg"]
)


class InstallParams(msgspec.Struct, forbid_unknown_fields=True):
    packages: list[str]
    dry_run: bool = False
    no_recommends: bool = False
    reinstall: bool = False


class RemoveParams(msgspec.Struct, forbid_unknown_fields=True):
    packages: list[str]
    dry_run: bool = False
    purge: bool = False
    """Also delete the packages' configuration files."""
    autoremove: bool = False
    """Also remove dependencies nothing needs any more."""


class Transaction(msgspec.Struct):
    dry_run: bool
    changes: list[Change]
    installed: int
    upgraded: int
    removed: int
    log: str
    """apt's own summary lines."""


def _packages(specs: list[str]) -> list[str]:
    if not specs:
        raise InvalidParams("packages: give at least one package")
    if len(specs) > 500:
        raise InvalidParams("packages: at most 500 at a time")
    return [deb_spec(s) for s in specs]


async def _apt(
    ctx: ActionContext, verb: str, flags: list[str], specs: list[str], dry_run: bool
) -> Transaction:
    argv = [
        "apt-get",
        "-y",
        "-q",
        "-o",
        "Dpkg::Options::=--force-confold",
        "-o",
        "Dpkg::Options::=--force-confdef",
    ]
    if dry_run:
        # A simulation takes no lock, so it works beside a running apt and as any user.
        argv += ["-s", "-o", "Debug::NoLocking=1"]
    res = await ctx.run([*argv, *flags, verb, "--", *specs], c_locale=True)
    out = res.stdout + res.stderr
    if res.exit_code != 0:
        if "Unable to locate package" in out or "has no installation candidate" in out:
            line = next(
                ln
                for ln in out.splitlines()
                if "Unable to locate" in ln or "no installation candidate" in ln
            )
            raise NotFound(line.removeprefix("E: "))
        if "Could not get lock" in out or "Unable to acquire" in out:
            raise ActionError(
                "another package manager holds the dpkg lock; retry later",
                code=ErrorCode.A014,
                data=res,
            )
        if "Permission denied" in out or "are you root" in out:
            raise ActionError(
                "apt-get needs root to change packages", code=ErrorCode.A016, data=res
            )
        errors = [ln for ln in out.splitlines() if ln.startswith("E: ")]
        raise ActionError(
            f"apt-get {verb} failed: {errors[-1] if errors else res.exit_code}",
            code=ErrorCode.A014,
            data=res,
        )
    changes = parse_apt_simulation(res.stdout) if dry_run else _from_real_run(res.stdout)
    return Transaction(
        dry_run=dry_run,
        changes=changes,
        installed=sum(1 for c in changes if c.action == "install"),
        upgraded=sum(1 for c in changes if c.action in ("upgrade", "downgrade")),
        removed=sum(1 for c in changes if c.action in ("remove", "purge")),
        log="\n".join(
            ln
            for ln in res.stdout.splitlines()
            if " upgraded, " in ln or ln.startswith(("W: ", "N: "))
        ),
    )


def _from_real_run(text: str) -> list[Change]:
    """A real run prints dpkg's ``Unpacking x (new) over (old)`` / ``Removing x (ver)`` lines."""
    import re

    out: list[Change] = []
    for line in text.splitlines():
        m = re.match(r"^Unpacking (\S+) \(([^)]+)\)(?: over \(([^)]+)\))?", line)
        if m:
            name, new, old = m.groups()
            out.append(
                Change(
                    action="upgrade" if old else "install",
                    package=name.split(":")[0],
                    version=new,
                    old_version=old or "",
                )
            )
            continue
        m = re.match(r"^(Removing|Purging configuration files for) (\S+) \(([^)]+)\)", line)
        if m:
            verb, name, ver = m.groups()
            action = "remove" if verb == "Removing" else "purge"
            if action == "purge" and any(c.package == name.split(":")[0] for c in out):
                continue
            out.append(Change(action=action, package=name.split(":")[0], old_version=ver))
    return out


@action("apt.install", risk=Risk.CHANGE, timeout=1800, streams=True)
async def install(ctx: ActionContext, p: InstallParams) -> Transaction:
    """Install or upgrade packages (``name`` or ``name=version``); ``dry_run`` only simulates."""
    flags = (["--no-install-recommends"] if p.no_recommends else []) + (
        ["--reinstall"] if p.reinstall else []
    )
    return await _apt(ctx, "install", flags, _packages(p.packages), p.dry_run)


@action("apt.remove", risk=Risk.DANGER, timeout=1800, streams=True)
async def remove(ctx: ActionContext, p: RemoveParams) -> Transaction:
    """Remove (or purge) packages; ``dry_run`` only simulates."""
    flags = (["--purge"] if p.purge else []) + (["--autoremove"] if p.autoremove else [])
    return await _apt(ctx, "remove", flags, _packages(p.packages), p.dry_run)
