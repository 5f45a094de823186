"""Start, stop, restart or reload a systemd unit and report where it ended up.

``svc.start``, ``svc.stop``, ``svc.restart``, ``svc.reload`` and
``svc.daemon_reload`` drive systemd through ``systemctl`` and then read the
unit's state back, so the caller sees "active (running), main PID 812"
rather than just an exit code. When systemd cannot reach the requested state
the task fails with ``A014`` and carries the unit's result and its last
journal lines; an unknown unit fails with ``A017``. Needs a running systemd.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, NoParams, Plugin, Risk, action

from ._systemd import (
    UnitStatus,
    journal_tail,
    systemctl,
    systemd_running,
    to_status,
    unit_name,
    unit_props,
)

PLUGIN = Plugin(
    "svc",
    domain="services",
    requires=["systemctl"],
    check=systemd_running,
)


class ControlParams(msgspec.Struct, forbid_unknown_fields=True):
    unit: str
    no_block: bool = False
    """Queue the job and return without waiting for it to finish."""


class DaemonReload(msgspec.Struct):
    reloaded: bool


async def _control(
    ctx: ActionContext, verb: str, p: ControlParams, want: tuple[str, ...]
) -> UnitStatus:
    unit = unit_name(p.unit)
    await unit_props(ctx, unit)  # A017 before anything is queued
    res = await systemctl(ctx, [verb, *(["--no-block"] if p.no_block else []), "--", unit])
    props = await unit_props(ctx, unit)
    if res.exit_code != 0 or (not p.no_block and props.get("ActiveState") not in want):
        log = await journal_tail(ctx, unit, 20)
        state = (
            f"{props.get('ActiveState')} ({props.get('SubState')}), result {props.get('Result')}"
        )
        why = res.stderr.strip().splitlines()
        raise ActionError(
            f"{verb} {unit} failed: {why[0] if why else 'unit is ' + state}; now {state}",
            code=ErrorCode.A014,
            data=to_status(props, log),
        )
    return to_status(props, [])


@action("svc.start", risk=Risk.CHANGE, timeout=120)
async def start(ctx: ActionContext, p: ControlParams) -> UnitStatus:
    """Start a unit and return its state afterwards."""
    return await _control(ctx, "start", p, ("active", "activating", "reloading"))


@action("svc.stop", risk=Risk.DANGER, timeout=120)
async def stop(ctx: ActionContext, p: ControlParams) -> UnitStatus:
    """Stop a unit and return its state afterwards."""
    return await _control(ctx, "stop", p, ("inactive", "failed", "deactivating"))


@action("svc.restart", risk=Risk.DANGER, timeout=180)
async def restart(ctx: ActionContext, p: ControlParams) -> UnitStatus:
    """Restart a unit (start it if stopped) and return its state afterwards."""
    return await _control(ctx, "restart", p, ("active", "activating", "reloading"))


@action("svc.reload", risk=Risk.CHANGE, timeout=120)
async def reload(ctx: ActionContext, p: ControlParams) -> UnitStatus:
    """Ask a running unit to reload its configuration (``ExecReload``)."""
    return await _control(ctx, "reload", p, ("active", "reloading"))


@action("svc.daemon_reload", risk=Risk.CHANGE, timeout=120)
async def daemon_reload(ctx: ActionContext, p: NoParams) -> DaemonReload:
    """Make systemd re-read every unit file (after editing one)."""
    res = await systemctl(ctx, ["daemon-reload"])
    if res.exit_code != 0:
        raise ActionError(
            f"daemon-reload failed: {res.stderr.strip()}", code=ErrorCode.A014, data=res
        )
    return DaemonReload(reloaded=True)
