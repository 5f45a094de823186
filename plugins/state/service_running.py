"""Ensure a service is running (or stopped) and enabled (or not) at boot, on systemd or sysv.

``state.service.running`` reads a service's state through the backend
``svc.*`` uses (systemd, or SysV init scripts) and compares it with what you
declare: ``running`` true or false, and optionally ``enabled``. It returns
``changed``, a diff like ``active: inactive -> active`` and a comment;
``dry_run`` only reports; otherwise it starts, stops, enables or disables
the service and checks the result, failing with A014 (and the service's
status) if it did not reach the state. An unknown service is A017; a host
with neither init system answers A003. Changes services (unless ``dry_run``).
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action, names
from plugins.services import INITDIR, Service, available, choose

from ._common import StateResult

PLUGIN = Plugin("state.service.running", domain="state", check=available)

_DONE = {"start": "started", "stop": "stopped", "enable": "enabled", "disable": "disabled"}
#: Boot states that already start the unit (or need no enabling).
_STARTS_AT_BOOT = ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated")


class ServiceParams(msgspec.Struct, forbid_unknown_fields=True):
    name: names.Unit
    running: bool = True
    enabled: bool | None = None
    dry_run: bool = False
    initdir: str = INITDIR
    """sysv: where the init scripts live."""


def plan(state: Service, running: bool, enabled: bool | None) -> list[tuple[str, str, str]]:
    """``(verb, what, was -> will be)`` steps that bring ``state`` to the declaration."""
    steps = []
    active = state.active_state
    if running and not state.running:
        steps.append(("start", "active", f"{active} -> active"))
    if not running and state.running:
        steps.append(("stop", "active", f"{active} -> inactive"))
    boot = state.enabled
    if enabled is True and boot not in _STARTS_AT_BOOT:
        steps.append(("enable", "enabled", f"{boot or 'unknown'} -> enabled"))
    if enabled is False and boot in ("enabled", "enabled-runtime"):
        steps.append(("disable", "enabled", f"{boot} -> disabled"))
    return steps


@action("state.service.running", risk=Risk.CHANGE, timeout=300)
async def running(ctx: ActionContext, p: ServiceParams) -> StateResult:
    """Ensure a service is running/stopped and enabled/disabled as declared."""
    be = choose(None, p.initdir)
    state = await be.status(ctx, p.name, 0)
    name = state.name
    steps = plan(state, p.running, p.enabled)
    diff = "".join(f"{what}: {change}\n" for _, what, change in steps)
    if not steps:
        return StateResult(
            name=name,
            changed=False,
            dry_run=p.dry_run,
            diff="",
            comment=f"{name} is {state.active_state} and {state.enabled or 'of unknown boot state'}",
        )
    if p.dry_run:
        return StateResult(
            name=name,
            changed=True,
            dry_run=True,
            diff=diff,
            comment=f"would {', '.join(v for v, _, _ in steps)} {name}",
        )
    for verb, _, _ in steps:
        if verb in ("enable", "disable"):
            await be.boot(ctx, verb == "enable", p.name, False, None)
        else:
            await be.control(ctx, verb, p.name, False)
    after = plan(await be.status(ctx, p.name, 0), p.running, p.enabled)
    if after:
        raise ActionError(f"{name} did not reach the declared state: {after}", code=ErrorCode.A014)
    return StateResult(
        name=name,
        changed=True,
        dry_run=False,
        diff=diff,
        comment=f"{', '.join(_DONE[v] for v, _, _ in steps)} {name}",
    )
