"""The service capability: one result shape, and the init system chosen at run time.

Not a plugin (no entry point). ``svc.*`` (``plugins/services/svc.py``) and
``state.service.running`` (through :mod:`plugins.services`) call :func:`choose` and then the backend's
methods; the backends are :class:`~plugins.services._systemd.Systemd`
(``systemctl``) and :class:`~plugins.services._sysv.Sysv` (the init scripts
in ``/etc/init.d``, with ``update-rc.d`` or ``chkconfig`` for boot links).

Errors every backend raises: ``A002`` a bad name, ``A003`` the init system is
not there, ``A008`` the tool failed unexpectedly, ``A014`` the service did
not reach the requested state (the error carries its status), ``A016`` a
script that is not executable, ``A017`` no such service.
"""

from __future__ import annotations

import os
import shutil
from typing import Protocol

import msgspec

from agent_core import ActionContext, InvalidParams, Unavailable

BACKENDS = ("systemd", "sysv")
INITDIR = "/etc/init.d"


class Service(msgspec.Struct):
    """One service's state as any backend reports it."""

    name: str
    """The unit (``nginx.service``) or the init script's name (``nginx``)."""
    backend: str
    """``systemd`` or ``sysv``."""
    running: bool
    active_state: str
    """systemd's ActiveState; sysv: ``active``, ``inactive``, ``failed`` or ``unknown`` from the LSB code."""
    sub_state: str
    """systemd's SubState; sysv: the LSB status (``running``, ``stopped``, ``dead (pid file exists)``)."""
    enabled: str
    """Starts at boot? systemd's UnitFileState; sysv: ``enabled``/``disabled`` from the rcN.d links."""
    description: str = ""
    main_pid: int | None = None
    result: str = ""
    load_state: str = ""
    preset: str = ""
    fragment_path: str = ""
    """The unit file, or the init script."""
    drop_ins: list[str] = []
    type: str = ""
    restart: str = ""
    user: str = ""
    exit_status: int | None = None
    """systemd: the main process's exit status; sysv: the exit code of ``status``."""
    restarts: int | None = None
    memory_bytes: int | None = None
    cpu_seconds: float | None = None
    tasks: int | None = None
    active_since: str = ""
    inactive_since: str = ""
    status_text: str = ""
    """systemd's StatusText; sysv: what the script printed."""
    log: list[str] = []


class ServiceRow(msgspec.Struct):
    name: str
    running: bool
    active_state: str
    sub_state: str
    enabled: str
    description: str
    load_state: str = ""


class ServiceList(msgspec.Struct):
    backend: str
    services: list[ServiceRow]
    by_active_state: dict[str, int]


class BootChange(msgspec.Struct):
    name: str
    backend: str
    enabled: str
    """The boot state afterwards."""
    changes: list[str]
    """The links the tool reported creating or removing."""
    changed: bool


class Backend(Protocol):
    """What every service backend answers (one shape per method, whatever the init system)."""

    name: str

    def service(self, name: str) -> str:
        """Check ``name`` and return it as the backend names it (A002 / A017)."""
        ...

    async def status(self, ctx: ActionContext, name: str, log_lines: int) -> Service: ...

    async def control(self, ctx: ActionContext, verb: str, name: str, no_block: bool) -> Service:
        """``start``/``stop``/``restart``/``reload`` and the state afterwards; A014 if not reached."""
        ...

    async def boot(
        self, ctx: ActionContext, enable: bool, name: str, now: bool, root: str | None
    ) -> BootChange: ...

    async def services(
        self,
        ctx: ActionContext,
        pattern: str | None,
        state: str | None,
        kind: str | None,
        all: bool,
    ) -> list[ServiceRow]: ...


def running_init() -> str | None:
    """``systemd`` when it is the running init, else ``sysv`` when ``/etc/init.d`` exists."""
    if os.path.isdir("/run/systemd/system"):
        return "systemd"
    if os.path.isdir(INITDIR):
        return "sysv"
    return None


def available() -> str | None:
    """Plugin check: systemd runs, or there are SysV init scripts."""
    return None if running_init() else "neither a running systemd nor /etc/init.d on this host"


def choose(backend: str | None = None, initdir: str = INITDIR, *, offline: bool = False) -> Backend:
    """The backend to use: ``backend`` when given, else the running init system.

    :param initdir: where the sysv backend finds its scripts; another directory than
        ``/etc/init.d`` selects the sysv backend.
    :param offline: the work is on unit files under another root (an image): systemd's,
        done by ``systemctl --root`` with no running systemd.
    :raises ActionError: A002 for an unknown backend, A003 when it cannot work here.
    """
    from ._systemd import Systemd, systemd_running
    from ._sysv import Sysv

    if offline:
        if backend not in (None, "systemd"):
            raise InvalidParams("root: only the systemd backend works on another root directory")
        if shutil.which("systemctl") is None:
            raise Unavailable("systemctl is not installed")
        return Systemd()
    if backend is None:
        # Scripts in another directory (an old Red Hat's /etc/rc.d/init.d) are sysv's.
        backend = "sysv" if initdir != INITDIR else running_init()
        if backend is None:
            raise Unavailable("neither a running systemd nor /etc/init.d on this host")
    elif backend not in BACKENDS:
        raise InvalidParams(f"backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend == "systemd":
        why = systemd_running()
        if why:
            raise Unavailable(why)
        return Systemd()
    return Sysv(initdir)
