"""Services on any init system: status, start, stop, restart, reload, enable, disable, list.

``svc.*`` is one set of actions with one result shape whatever the host
runs: systemd (``systemctl``) where it is the running init, SysV init
scripts (``/etc/init.d``, run as ``service`` runs them; ``update-rc.d`` or
``chkconfig`` for the boot links) elsewhere, chosen at run time
(``backend`` forces one). Every change reads the service's state back, so
the caller sees "active (running), main PID 812" rather than an exit code;
when the service does not reach the requested state the task fails with
``A014`` and carries the service's status and last log lines. An unknown
service fails with ``A017``. systemd-only extras live under ``svc.boot.*``,
``svc.failed``, ``svc.journal``, ``svc.unit`` and ``svc.unitfiles``.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import msgspec

from agent_core import ActionContext, NoParams, Plugin, Risk, Unavailable, action, names, root_dir

from ._backend import INITDIR, BootChange, Service, ServiceList, available, choose

PLUGIN = Plugin("svc", domain="services", check=available)

BackendName = Annotated[str, msgspec.Meta(pattern="^(systemd|sysv)$")]


class StatusParams(msgspec.Struct, forbid_unknown_fields=True):
    name: names.Unit
    """A unit (``nginx``, ``nginx.service``, ``getty@tty1``) or an init script's name."""
    log_lines: Annotated[int, msgspec.Meta(ge=0, le=200)] = 0
    """systemd: also return this many last journal lines of the unit."""
    backend: BackendName | None = None
    initdir: str = INITDIR
    """sysv: where the scripts live (``/etc/rc.d/init.d`` on old Red Hat systems)."""


class ControlParams(msgspec.Struct, forbid_unknown_fields=True):
    name: names.Unit
    no_block: bool = False
    """systemd: queue the job and return without waiting for it to finish."""
    backend: BackendName | None = None
    initdir: str = INITDIR


class BootParams(msgspec.Struct, forbid_unknown_fields=True):
    name: names.Unit
    now: bool = False
    """Also start (enable) or stop (disable) the service now."""
    root: str | None = None
    """systemd: act on the unit files under this directory (an image) instead of the live system."""
    backend: BackendName | None = None
    initdir: str = INITDIR


class ListParams(msgspec.Struct, forbid_unknown_fields=True):
    pattern: names.UnitGlob | None = None
    state: Annotated[str, msgspec.Meta(pattern="^[a-z() -]{1,32}$")] | None = None
    """An active or sub state: ``running``, ``failed``, ``inactive``, ``active``..."""
    all: bool = False
    """Include inactive services too."""
    type: str | None = "service"
    """systemd: the unit type, ``None`` for every type."""
    backend: BackendName | None = None
    initdir: str = INITDIR


class DaemonReload(msgspec.Struct):
    reloaded: bool


@action("svc.status", risk=Risk.READ, timeout=30)
async def status(ctx: ActionContext, p: StatusParams) -> Service:
    """State, enablement, main PID, memory/CPU, restarts and log tail of a service."""
    return await choose(p.backend, p.initdir).status(ctx, p.name, p.log_lines)


@action("svc.start", risk=Risk.CHANGE, timeout=120)
async def start(ctx: ActionContext, p: ControlParams) -> Service:
    """Start a service and return its state afterwards."""
    return await choose(p.backend, p.initdir).control(ctx, "start", p.name, p.no_block)


@action("svc.stop", risk=Risk.DANGER, timeout=120)
async def stop(ctx: ActionContext, p: ControlParams) -> Service:
    """Stop a service and return its state afterwards."""
    return await choose(p.backend, p.initdir).control(ctx, "stop", p.name, p.no_block)


@action("svc.restart", risk=Risk.DANGER, timeout=180)
async def restart(ctx: ActionContext, p: ControlParams) -> Service:
    """Restart a service (start it if stopped) and return its state afterwards."""
    return await choose(p.backend, p.initdir).control(ctx, "restart", p.name, p.no_block)


@action("svc.reload", risk=Risk.CHANGE, timeout=120)
async def reload(ctx: ActionContext, p: ControlParams) -> Service:
    """Ask a running service to reload its configuration."""
    return await choose(p.backend, p.initdir).control(ctx, "reload", p.name, p.no_block)


@action("svc.enable", risk=Risk.CHANGE, timeout=60)
async def enable(ctx: ActionContext, p: BootParams) -> BootChange:
    """Start a service at boot (systemd ``[Install]`` links, rcN.d links); ``now`` also starts it."""
    root = root_dir(p.root)
    be = choose(p.backend, p.initdir, offline=root is not None)
    return await be.boot(ctx, True, p.name, p.now, root)


@action("svc.disable", risk=Risk.CHANGE, timeout=60)
async def disable(ctx: ActionContext, p: BootParams) -> BootChange:
    """Stop starting a service at boot; ``now`` also stops it."""
    root = root_dir(p.root)
    be = choose(p.backend, p.initdir, offline=root is not None)
    return await be.boot(ctx, False, p.name, p.now, root)


@action("svc.list", risk=Risk.READ, timeout=120)
async def svc_list(ctx: ActionContext, p: ListParams) -> ServiceList:
    """Services with active/sub state, boot state and description, filtered by name and state."""
    be = choose(p.backend, p.initdir)
    rows = await be.services(ctx, p.pattern, p.state, p.type, p.all)
    return ServiceList(
        backend=be.name, services=rows, by_active_state=dict(Counter(r.active_state for r in rows))
    )


@action("svc.daemon_reload", risk=Risk.CHANGE, timeout=120)
async def daemon_reload(ctx: ActionContext, p: NoParams) -> DaemonReload:
    """systemd: re-read every unit file (after editing one)."""
    from ._systemd import reload_daemon, systemd_running

    why = systemd_running()
    if why:
        raise Unavailable(why)
    await reload_daemon(ctx)
    return DaemonReload(reloaded=True)
