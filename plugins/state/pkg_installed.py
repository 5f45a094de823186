"""Ensure a package is installed (dpkg/apt or rpm/yum/dnf), showing what an install would pull in.

``pkg.installed`` asks the package database whether ``name`` (optionally
at ``version``) is installed. If it is, nothing changes. If not, ``dry_run``
asks the package manager to simulate the install (``apt-get -s`` or
``dnf/yum --assumeno``) and returns, as the diff, every package that would be
installed or upgraded with its version; a real run installs it
non-interactively and checks the database again. A package the repositories
do not know is A017. Needs dpkg or rpm; otherwise A003. Changes the host's
packages (unless ``dry_run``).
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
    ProcessResult,
    Risk,
    Unavailable,
    action,
    names,
)

from ._common import StateResult

_NAME = re.compile(names.PACKAGE)
_VERSION = re.compile(names.PACKAGE_VERSION)
_INST = re.compile(r"^Inst (\S+) (?:\[(\S+)\] )?\((\S+)")


def _check() -> str | None:
    if shutil.which("dpkg-query") or shutil.which("rpm"):
        return None
    return "neither dpkg nor rpm is installed"


PLUGIN = Plugin("pkg.installed", domain="state", check=_check)


class PkgParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    version: str | None = None
    dry_run: bool = False


async def installed_version(ctx: ActionContext, name: str) -> str | None:
    """The installed version of ``name``, or None."""
    if ctx.which("dpkg-query"):
        res = await ctx.run(["dpkg-query", "-W", "-f", "${Status}\t${Version}\n", name], c_locale=True)
        for line in res.stdout.splitlines():
            status, _, version = line.partition("\t")
            if status.split()[-1:] == ["installed"]:
                return version
        return None
    res = await ctx.run(["rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}\n", name], c_locale=True)
    return res.stdout.strip().splitlines()[0] if res.exit_code == 0 and res.stdout.strip() else None


def _missing(res: ProcessResult, name: str) -> None:
    text = (res.stderr + res.stdout).lower()
    if "unable to locate package" in text or "no match for argument" in text or ("no package" in text and "available" in text):
        raise NotFound(f"no package named {name!r} in the configured repositories")
    if "version" in text and "was not found" in text:
        raise NotFound(f"{name}: the requested version is not available")


async def simulate(ctx: ActionContext, spec: str, name: str) -> str:
    """What installing ``spec`` would do, as diff lines ``+ pkg version``."""
    if ctx.which("apt-get"):
        res = await ctx.run(["apt-get", "install", "-s", "-y", "-q", spec], c_locale=True)
        _missing(res, name)
        if res.exit_code != 0:
            raise ActionError(f"apt-get -s failed: {res.stderr.strip()[-300:]}", code=ErrorCode.A014, data=res)
        lines = []
        for line in res.stdout.splitlines():
            m = _INST.match(line)
            if m:
                pkg, old, new = m.groups()
                lines.append(f"{'~' if old else '+'} {pkg} {old + ' -> ' if old else ''}{new}")
        return "\n".join(lines) + ("\n" if lines else "")
    tool = ctx.which("dnf") or ctx.which("yum")
    if tool is None:
        return f"+ {spec}\n"
    res = await ctx.run([tool, "install", "--assumeno", spec], c_locale=True)
    _missing(res, name)
    return "".join(f"+ {line.strip()}\n" for line in res.stdout.splitlines() if re.match(r"^ \S+\s+\S+\s+\S+\s+\S+", line))


async def install(ctx: ActionContext, spec: str, name: str) -> None:
    if ctx.which("apt-get"):
        argv = ["apt-get", "install", "-y", "-q", "-o", "Dpkg::Options::=--force-confold", spec]
    else:
        tool = ctx.which("dnf") or ctx.which("yum")
        if tool is None:
            raise Unavailable("no apt-get, dnf or yum to install with")
        argv = [tool, "install", "-y", spec]
    res = await ctx.run(argv, c_locale=True)
    _missing(res, name)
    if res.exit_code != 0:
        raise ActionError(f"installing {spec} failed: {res.stderr.strip()[-300:]}", code=ErrorCode.A014, data=res)


@action("pkg.installed", risk=Risk.CHANGE, timeout=900)
async def installed(ctx: ActionContext, p: PkgParams) -> StateResult:
    """Ensure package ``name`` (at ``version``) is installed; dry-run lists what would come in."""
    if not _NAME.match(p.name):
        raise InvalidParams(f"name: {p.name!r} is not a package name")
    if p.version is not None and not _VERSION.match(p.version):
        raise InvalidParams(f"version: {p.version!r} is not a package version")
    current = await installed_version(ctx, p.name)
    if current is not None and (p.version is None or current == p.version):
        return StateResult(name=p.name, changed=False, dry_run=p.dry_run, diff="", comment=f"{p.name} {current} is installed")
    is_apt = ctx.which("apt-get") is not None
    spec = p.name if p.version is None else (f"{p.name}={p.version}" if is_apt else f"{p.name}-{p.version}")
    diff = await simulate(ctx, spec, p.name)
    was = f" (installed: {current})" if current else ""
    if p.dry_run:
        return StateResult(name=p.name, changed=True, dry_run=True, diff=diff, comment=f"would install {spec}{was}")
    await install(ctx, spec, p.name)
    now = await installed_version(ctx, p.name)
    if now is None or (p.version is not None and now != p.version):
        raise ActionError(f"{spec} is still not installed after the install ran (found {now})", code=ErrorCode.A014)
    return StateResult(name=p.name, changed=True, dry_run=False, diff=diff, comment=f"installed {p.name} {now}{was}")
