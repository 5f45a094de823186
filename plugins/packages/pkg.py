"""Packages on any distribution: list, inspect, verify, install, remove, upgrade.

``pkg.*`` is one set of actions with one result shape whatever the host
runs: the dpkg backend (``dpkg-query``, ``dpkg``, ``apt-get``) on
Debian-family hosts, the rpm backend (``rpm`` with ``dnf`` or ``yum``) on
RHEL-family hosts, chosen at run time from the package database present
(``backend`` forces one, e.g. to read an RPM image from a Debian host).
``pkg.list``, ``pkg.info``, ``pkg.files`` and ``pkg.verify`` read the
database (and, with ``root``, an image's or chroot's); ``pkg.updates`` lists
pending upgrades, security ones marked; ``pkg.install``, ``pkg.remove`` and
``pkg.upgrade`` run a transaction and return every package it installed,
upgraded or removed, and with ``dry_run`` only simulate it. A package spec
is ``name``, ``name=version`` or the absolute path of a package file. Each
change names the version it brings and, in ``old_version``, the one it
replaces or removes. An unknown package fails with ``A017``; removing or
upgrading a package that is not installed has nothing to do; another package
manager holding the lock, or dependencies that cannot be met, fail with
``A014``.
"""

from __future__ import annotations

import os
from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, action, names, root_dir

from ._backend import (
    LIST_STATES,
    Package,
    PackageFiles,
    Packages,
    Transaction,
    Updates,
    Verification,
    available,
    choose,
)

PLUGIN = Plugin("pkg", domain="packages", check=available)

BackendName = Annotated[str, msgspec.Meta(pattern="^(dpkg|rpm)$")]
Specs = Annotated[list[str], msgspec.Meta(max_length=500)]


class ListParams(msgspec.Struct, forbid_unknown_fields=True):
    pattern: names.PackageGlob | None = None
    """Only names matching this glob (``linux-image*``)."""
    state: str = "installed"
    """``installed``, ``held``, ``config-files``, ``broken`` or ``all`` (the last four are dpkg's)."""
    recent: Annotated[int, msgspec.Meta(ge=1, le=10000)] | None = None
    """Only the N most recently installed (or, on dpkg, unpacked) packages, newest first."""
    root: str | None = None
    backend: BackendName | None = None


class InfoParams(msgspec.Struct, forbid_unknown_fields=True):
    name: names.Package
    root: str | None = None
    backend: BackendName | None = None


class FilesParams(msgspec.Struct, forbid_unknown_fields=True):
    name: names.Package
    check_missing: bool = False
    """Also look at the disk and list the recorded files that are gone."""
    include_dirs: bool = False
    root: str | None = None
    backend: BackendName | None = None


class VerifyParams(msgspec.Struct, forbid_unknown_fields=True):
    name: names.Package | None = None
    """One package, or every installed package when omitted (slow: reads every file)."""
    root: str | None = None
    backend: BackendName | None = None


class InstallParams(msgspec.Struct, forbid_unknown_fields=True):
    packages: Specs
    """``name``, ``name=version`` or an absolute path to a ``.deb`` / ``.rpm``."""
    dry_run: bool = False
    no_recommends: bool = False
    """Leave out recommended (weak) dependencies."""
    reinstall: bool = False
    backend: BackendName | None = None


class RemoveParams(msgspec.Struct, forbid_unknown_fields=True):
    packages: Specs
    dry_run: bool = False
    purge: bool = False
    """dpkg: also delete configuration files (rpm keeps only edited ones, as ``.rpmsave``)."""
    autoremove: bool = False
    """dpkg: also remove dependencies nothing needs any more (dnf always does)."""
    backend: BackendName | None = None


class UpgradeParams(msgspec.Struct, forbid_unknown_fields=True):
    packages: Specs = []
    """Upgrade only these (installed) packages; every package when empty."""
    dry_run: bool = False
    full: bool = False
    """dpkg: ``dist-upgrade``, which may install or remove packages to upgrade others."""
    backend: BackendName | None = None


class UpdatesParams(msgspec.Struct, forbid_unknown_fields=True):
    security_only: bool = False
    cache_only: bool = False
    """rpm: answer from the cached metadata (``-C``), without network; apt always does."""
    backend: BackendName | None = None


def _scan(root: str, paths: list[str], include_dirs: bool) -> tuple[list[str], list[str]]:
    """(listed, missing): drop directories unless asked, and find the vanished."""
    listed: list[str] = []
    missing: list[str] = []
    for path in paths:
        on_disk = os.path.join(root, path.lstrip("/"))
        if not os.path.lexists(on_disk):
            missing.append(path)
            listed.append(path)
        elif include_dirs or not os.path.isdir(on_disk):
            listed.append(path)
    return listed, missing


def _packages(backend: str, found: list[Package]) -> Packages:
    return Packages(
        backend=backend, packages=found, count=len(found), total_size=sum(p.size for p in found)
    )


@action("pkg.list", risk=Risk.READ, timeout=60)
async def pkg_list(ctx: ActionContext, p: ListParams) -> Packages:
    """Packages with version, arch, state and size; filter by name, state or newest N."""
    if p.state not in LIST_STATES:
        raise InvalidParams(f"state: {p.state!r} is not one of {', '.join(LIST_STATES)}")
    root = root_dir(p.root)
    be = choose(p.backend, root)
    found = await be.packages(ctx, p.pattern, p.state, root)
    if p.recent is not None:
        found = sorted(found, key=lambda pkg: pkg.install_time, reverse=True)[: p.recent]
    return _packages(be.name, found)


@action("pkg.info", risk=Risk.READ, timeout=30)
async def info(ctx: ActionContext, p: InfoParams) -> Packages:
    """Version, arch, state, size, source, maintainer, relations, config files and description."""
    root = root_dir(p.root)
    be = choose(p.backend, root)
    return _packages(be.name, await be.info(ctx, p.name, root))


@action("pkg.files", risk=Risk.READ, timeout=60)
async def files(ctx: ActionContext, p: FilesParams) -> PackageFiles:
    """A package's files and config files; optionally the ones missing on disk."""
    root = root_dir(p.root)
    be = choose(p.backend, root)
    paths, config, diversions = await be.files(ctx, p.name, root)
    listed, missing = await ctx.to_thread(_scan, root or "/", paths, p.include_dirs)
    return PackageFiles(
        name=p.name,
        backend=be.name,
        files=listed,
        config_files=config,
        missing=missing if p.check_missing else [],
        diversions=diversions,
    )


@action("pkg.verify", risk=Risk.READ, timeout=900)
async def verify(ctx: ActionContext, p: VerifyParams) -> Verification:
    """Files of one or all packages that differ from the database (checksum, mode...) or are gone."""
    root = root_dir(p.root)
    be = choose(p.backend, root)
    changed = await be.verify(ctx, p.name, root)
    return Verification(
        backend=be.name,
        ok=not changed,
        changed=changed,
        changed_non_config=sum(1 for c in changed if c.kind != "config"),
    )


@action("pkg.install", risk=Risk.CHANGE, timeout=1800, streams=True)
async def install(ctx: ActionContext, p: InstallParams) -> Transaction:
    """Install (or upgrade to) packages, dependencies included; ``dry_run`` only simulates."""
    be = choose(p.backend)
    return await be.install(
        ctx, p.packages, dry_run=p.dry_run, no_recommends=p.no_recommends, reinstall=p.reinstall
    )


@action("pkg.remove", risk=Risk.DANGER, timeout=1800, streams=True)
async def remove(ctx: ActionContext, p: RemoveParams) -> Transaction:
    """Remove (or purge) packages and what depends on them; ``dry_run`` only simulates."""
    be = choose(p.backend)
    return await be.remove(
        ctx, p.packages, dry_run=p.dry_run, purge=p.purge, autoremove=p.autoremove
    )


@action("pkg.upgrade", risk=Risk.CHANGE, timeout=3600, streams=True)
async def upgrade(ctx: ActionContext, p: UpgradeParams) -> Transaction:
    """Upgrade the named packages, or all of them; ``dry_run`` only simulates."""
    be = choose(p.backend)
    return await be.upgrade(ctx, p.packages, dry_run=p.dry_run, full=p.full)


@action("pkg.updates", risk=Risk.READ, timeout=600)
async def updates(ctx: ActionContext, p: UpdatesParams) -> Updates:
    """Installed packages with a newer candidate: current and new version, origin, security flag."""
    be = choose(p.backend)
    found = await be.updates(ctx, cache_only=p.cache_only)
    if p.security_only:
        found.updates = [u for u in found.updates if u.security]
        found.count = len(found.updates)
    return found
