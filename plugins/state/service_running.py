"""Ensure a systemd service is running (or stopped) and enabled (or not) at boot.

``service.running`` reads a unit's state with ``systemctl show`` (load
state, active state, unit-file state) and compares it with what you declare:
``running`` true or false, and optionally ``enabled``. It returns ``changed``,
a diff like ``active: inactive -> active`` and a comment; ``dry_run`` only
reports; otherwise it runs ``systemctl start/stop/enable/disable`` and checks
the result, failing with A014 (and the unit's last status lines) if the
service did not reach the state. An unknown unit is A017; a host without
systemd answers A003. Changes services (unless ``dry_run``).
"""

from __future__ import annotations

import re

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
    names,
)

from ._common import StateResult

PLUGIN = Plugin(
    "service.running",
    domain="state",
    requires=["systemctl"],
    requires_files=["/run/systemd/system"],
)

_DONE = {"start": "started", "stop": "stopped", "enable": "enabled", "disable": "disabled"}
_UNIT = re.compile(names.UNIT)


class ServiceParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    running: bool = True
    enabled: bool | None = None
    dry_run: bool = False


def unit_name(name: str) -> str:
    if not _UNIT.match(name) or name.startswith("-"):
        raise InvalidParams(f"name: {name!r} is not a systemd unit name")
    return name if "." in name else f"{name}.service"


def parse_show(text: str) -> dict[str, str]:
    """``systemctl show -p A,B`` output (``Key=value`` lines) as a dict."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


async def unit_state(ctx: ActionContext, unit: str) -> dict[str, str]:
    res = await ctx.run(["systemctl", "show", unit, "-p", "LoadState,ActiveState,SubState,UnitFileState"])
    state = parse_show(res.stdout)
    if state.get("LoadState") == "not-found":
        raise NotFound(f"no unit named {unit}")
    return state


def plan(state: dict[str, str], running: bool, enabled: bool | None) -> list[tuple[str, str, str]]:
    """``(verb, what, was -> will be)`` steps that bring ``state`` to the declaration."""
    steps = []
    active = state.get("ActiveState", "")
    is_running = active in ("active", "activating", "reloading")
    if running and not is_running:
        steps.append(("start", "active", f"{active} -> active"))
    if not running and is_running:
        steps.append(("stop", "active", f"{active} -> inactive"))
    file_state = state.get("UnitFileState", "")
    if enabled is True and file_state not in ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated"):
        steps.append(("enable", "enabled", f"{file_state or 'unknown'} -> enabled"))
    if enabled is False and file_state in ("enabled", "enabled-runtime"):
        steps.append(("disable", "enabled", f"{file_state} -> disabled"))
    return steps


@action("service.running", risk=Risk.CHANGE, timeout=300)
async def running(ctx: ActionContext, p: ServiceParams) -> StateResult:
    """Ensure a systemd unit is running/stopped and enabled/disabled as declared."""
    unit = unit_name(p.name)
    state = await unit_state(ctx, unit)
    steps = plan(state, p.running, p.enabled)
    diff = "".join(f"{what}: {change}\n" for _, what, change in steps)
    if not steps:
        return StateResult(name=unit, changed=False, dry_run=p.dry_run, diff="", comment=f"{unit} is {state.get('ActiveState')} and {state.get('UnitFileState')}")
    if p.dry_run:
        return StateResult(name=unit, changed=True, dry_run=True, diff=diff, comment=f"would {', '.join(v for v, _, _ in steps)} {unit}")
    for verb, _, _ in steps:
        res = await ctx.run(["systemctl", verb, unit])
        if res.exit_code != 0:
            status = await ctx.run(["systemctl", "status", "--no-pager", "-n", "10", unit])
            raise ActionError(f"systemctl {verb} {unit} failed: {res.stderr.strip()}", code=ErrorCode.A014, data=status)
    after = plan(await unit_state(ctx, unit), p.running, p.enabled)
    if after:
        raise ActionError(f"{unit} did not reach the declared state: {after}", code=ErrorCode.A014)
    return StateResult(name=unit, changed=True, dry_run=False, diff=diff, comment=f"{', '.join(_DONE[v] for v, _, _ in steps)} {unit}")
