"""The package capability: one set of result shapes, and the backend chosen at run time.

Not a plugin (no entry point). ``pkg.*`` (``plugins/packages/pkg.py``) and
``state.pkg.installed`` (through :mod:`plugins.packages`) call :func:`choose` and then the backend's methods;
the backends are :class:`~plugins.packages._dpkg.Dpkg` (dpkg-query, dpkg,
apt-get) and :class:`~plugins.packages._rpm.Rpm` (rpm, dnf or yum), each
answering in the shapes below, so a caller learns one shape whatever the
distribution (Salt's ``pkg`` virtual module is the model).

Errors every backend raises: ``A002`` bad name or spec, ``A003`` the tool
is missing, ``A008`` the tool failed unexpectedly, ``A014`` a transaction
failed (lock held, not root...), ``A017`` no such package.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from typing import Protocol

import msgspec

from agent_core import ActionContext, InvalidParams, Unavailable

from ._common import Change

BACKENDS = ("dpkg", "rpm")
#: Where each backend's database lives, relative to the root.
DATABASES = {
    "dpkg": ("var/lib/dpkg/status",),
    "rpm": ("var/lib/rpm", "usr/lib/sysimage/rpm"),
}
LIST_STATES = ("installed", "held", "config-files", "broken", "all")


class Package(msgspec.Struct, omit_defaults=True):
    """One package as any backend reports it; the detail fields are filled by ``pkg.info``."""

    name: str
    version: str
    """dpkg: the Debian version; rpm: ``[epoch:]version-release``."""
    arch: str
    backend: str
    """``dpkg`` or ``rpm``."""
    status: str = "installed"
    """dpkg's state (``installed``, ``config-files``, ``half-configured``...); rpm: ``installed``."""
    held: bool = False
    """dpkg: ``apt-mark hold``; rpm: always false."""
    summary: str = ""
    size: int = 0
    """Installed size in bytes."""
    install_time: int = 0
    """Unix time: rpm's INSTALLTIME; dpkg: when dpkg last unpacked it (its ``.list`` file)."""
    source: str = ""
    maintainer: str = ""
    vendor: str = ""
    section: str = ""
    """dpkg Section / rpm Group."""
    homepage: str = ""
    license: str = ""
    essential: bool = False
    description: str = ""
    relations: dict[str, list[str]] = {}
    """``depends``, ``pre-depends``, ``recommends``... (dpkg) / ``requires``, ``provides`` (rpm)."""
    config_files: list[str] = []


class Packages(msgspec.Struct):
    backend: str
    packages: list[Package]
    count: int
    total_size: int
    """Bytes, summed over the listed packages."""


class PackageFiles(msgspec.Struct):
    name: str
    backend: str
    files: list[str]
    config_files: list[str]
    missing: list[str]
    """With ``check_missing``: recorded files that no longer exist."""
    diversions: list[str]
    """dpkg only: files another package moved away."""


class ChangedFile(msgspec.Struct):
    path: str
    problems: list[str]
    """``missing``, or what differs: ``checksum``, ``size``, ``mode``, ``owner``, ``mtime``..."""
    kind: str
    """``config``, ``doc``, ``ghost``... or empty for an ordinary file."""


class Verification(msgspec.Struct):
    backend: str
    ok: bool
    changed: list[ChangedFile]
    changed_non_config: int


class Transaction(msgspec.Struct):
    backend: str
    manager: str
    """The program that ran it: ``apt-get``, ``dnf`` or ``yum``."""
    dry_run: bool
    changes: list[Change]
    installed: int
    upgraded: int
    removed: int
    nothing_to_do: bool
    log: str
    """The manager's own summary and warning lines."""


class Update(msgspec.Struct):
    name: str
    arch: str
    current: str
    candidate: str
    origin: str
    """apt: the archive (``Debian-Security:12/stable-security``); dnf: the repository id."""
    security: bool


class Updates(msgspec.Struct):
    backend: str
    updates: list[Update]
    count: int
    security: int
    held_back: list[str]
    """apt only: upgrades that need new packages or removals (``pkg.upgrade`` with ``full``)."""
    lists_age_seconds: float | None
    """apt only: time since the package lists were last refreshed."""


def transaction(
    backend: str, manager: str, dry_run: bool, changes: list[Change], nothing: bool, log: str
) -> Transaction:
    return Transaction(
        backend=backend,
        manager=manager,
        dry_run=dry_run,
        changes=changes,
        installed=sum(1 for c in changes if c.action == "install"),
        upgraded=sum(1 for c in changes if c.action in ("upgrade", "downgrade")),
        removed=sum(1 for c in changes if c.action in ("remove", "purge")),
        nothing_to_do=nothing,
        log=log,
    )


class Backend(Protocol):
    """What every package backend answers (one shape per method, whatever the tool)."""

    name: str

    async def packages(
        self, ctx: ActionContext, pattern: str | None, state: str, root: str | None
    ) -> list[Package]: ...

    async def info(self, ctx: ActionContext, name: str, root: str | None) -> list[Package]:
        """Every installed instance of ``name`` (several for multi-arch or kernels), A017 if none."""
        ...

    async def installed(self, ctx: ActionContext, name: str) -> str | None:
        """The installed version of ``name``, or None (a cheap ``info``)."""
        ...

    async def files(
        self, ctx: ActionContext, name: str, root: str | None
    ) -> tuple[list[str], list[str], list[str]]:
        """``(paths, config files, diversions)`` the database records for ``name``."""
        ...

    async def verify(
        self, ctx: ActionContext, name: str | None, root: str | None
    ) -> list[ChangedFile]: ...

    async def install(
        self,
        ctx: ActionContext,
        specs: list[str],
        *,
        dry_run: bool,
        no_recommends: bool,
        reinstall: bool,
    ) -> Transaction: ...

    async def remove(
        self, ctx: ActionContext, names: list[str], *, dry_run: bool, purge: bool, autoremove: bool
    ) -> Transaction: ...

    async def upgrade(
        self, ctx: ActionContext, specs: list[str], *, dry_run: bool, full: bool
    ) -> Transaction: ...

    async def updates(self, ctx: ActionContext, *, cache_only: bool) -> Updates: ...

    def spec(self, value: str, field: str = "packages") -> str:
        """Check one install spec (``name``, ``name=version``, a package file) and return it
        in this backend's syntax (A002 when malformed)."""
        ...


@functools.cache
def _rpm_dbpath() -> str:
    """This rpm's configured database path (Debian's rpm uses ``~/.rpmdb``), or ``""``."""
    if shutil.which("rpm") is None:
        return ""
    res = subprocess.run(["rpm", "--eval", "%_dbpath"], capture_output=True, text=True, timeout=10)
    path = res.stdout.strip()
    return path.lstrip("/") if res.returncode == 0 and path.startswith("/") else ""


def _has_database(root: str, backend: str) -> bool:
    paths = DATABASES[backend] + ((_rpm_dbpath(),) if backend == "rpm" and _rpm_dbpath() else ())
    return any(os.path.exists(os.path.join(root, p)) for p in paths)


def detect(root: str | None = None) -> str | None:
    """The host's (or ``root``'s) native package database, or None.

    A Debian host may carry ``rpm`` as a tool, so the database decides, dpkg
    first: the tool that installed the system is the one that owns it.
    """
    base = root or "/"
    for backend in BACKENDS:
        if _has_database(base, backend) and (root or shutil.which(_QUERY[backend])):
            return backend
    return None


_QUERY = {"dpkg": "dpkg-query", "rpm": "rpm"}


def available() -> str | None:
    """Plugin check: ``dpkg-query`` or ``rpm`` on PATH."""
    if shutil.which("dpkg-query") or shutil.which("rpm"):
        return None
    return "neither dpkg nor rpm is installed"


def choose(backend: str | None = None, root: str | None = None) -> Backend:
    """The backend to use: ``backend`` when given (``dpkg``/``rpm``), else the native one.

    :raises ActionError: A002 for an unknown backend name, A003 when its tool is missing
        or no package database is found.
    """
    from ._dpkg import Dpkg
    from ._rpm import Rpm

    if backend is None:
        backend = detect(root)
        if backend is None:
            where = f" under {root}" if root else ""
            raise Unavailable(f"no dpkg or rpm package database{where}")
    elif backend not in BACKENDS:
        raise InvalidParams(f"backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    if shutil.which(_QUERY[backend]) is None:
        raise Unavailable(f"backend {backend}: {_QUERY[backend]} is not installed")
    return Dpkg() if backend == "dpkg" else Rpm()
