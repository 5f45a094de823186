"""Status of one systemd unit: state, main process, resources, restarts, log tail.

``svc.status`` is ``systemctl status`` as data: load/active/sub state, the
result of the last run, whether it is enabled, its unit file and drop-ins,
main PID and exit status, memory, CPU time and task count, how many times
systemd restarted it, when it last became active or inactive, and optionally
the last lines of its journal. A unit systemd does not know fails with
``A017``. Needs a running systemd.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agent_core import ActionContext, Plugin, Risk, action

from ._systemd import UnitStatus, journal_tail, systemd_running, to_status, unit_name, unit_props

PLUGIN = Plugin(
    "svc.status",
    domain="services",
    requires=["systemctl"],
    check=systemd_running,
)


class StatusParams(msgspec.Struct, forbid_unknown_fields=True):
    unit: str
    log_lines: Annotated[int, msgspec.Meta(ge=0, le=200)] = 0
    """Also return this many last journal lines of the unit (0-200)."""


@action("svc.status", risk=Risk.READ, timeout=20)
async def status(ctx: ActionContext, p: StatusParams) -> UnitStatus:
    """State, result, enablement, main PID, memory/CPU/tasks, restarts and log tail of a unit."""
    unit = unit_name(p.unit)
    props = await unit_props(ctx, unit)
    return to_status(props, await journal_tail(ctx, unit, p.log_lines))
