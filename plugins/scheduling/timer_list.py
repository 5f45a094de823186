"""systemd timers: when each fires next, when it last fired, and what it starts.

``sched.timer.list`` lists every timer unit systemd knows (``--all`` includes the
inactive ones) with its state, the calendar or monotonic expressions that
drive it, whether it is persistent (catches up after downtime), when it will
elapse next and when it last triggered, and the unit it activates together
with that unit's last result, so a backup timer whose service keeps failing
shows up in one call. Needs a running systemd; read only.
"""

from __future__ import annotations

import re

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action
from plugins.services import parse_list, show, systemctl, systemd_running, unit_pattern

PLUGIN = Plugin(
    "sched.timer.list",
    domain="scheduling",
    requires=["systemctl"],
    check=systemd_running,
)

_TIMER_PROPS = (
    "Id",
    "Description",
    "ActiveState",
    "SubState",
    "Unit",
    "TimersCalendar",
    "TimersMonotonic",
    "Persistent",
    "NextElapseUSecRealtime",
    "LastTriggerUSec",
    "Result",
)


class TimerListParams(msgspec.Struct, forbid_unknown_fields=True):
    all: bool = True
    pattern: str | None = None


class Timer(msgspec.Struct):
    timer: str
    description: str
    active: str
    activates: str
    calendar: list[str]
    monotonic: list[str]
    persistent: bool
    next_elapse: str
    last_trigger: str
    result: str
    service_result: str
    """``Result`` of the activated unit (``success``, ``exit-code``...)."""


class Timers(msgspec.Struct):
    timers: list[Timer]


def _exprs(value: str) -> list[str]:
    """``{ OnCalendar=*-*-* 06:00:00 ; next_elapse=... }`` blocks into their expressions."""
    return [m.strip() for m in re.findall(r"\{\s*\w+=([^;}]+)", value)]


@action("sched.timer.list", risk=Risk.READ, timeout=30)
async def timer_list(ctx: ActionContext, p: TimerListParams) -> Timers:
    """Timers with schedule, next and last elapse, activated unit and its last result."""
    args = [
        "list-units",
        "--type=timer",
        "--plain",
        "--no-legend",
        "--full",
        *(["--all"] if p.all else []),
    ]
    if p.pattern is not None:
        args += ["--", unit_pattern(p.pattern)]
    res = await systemctl(ctx, args)
    if res.exit_code != 0:
        raise ActionError(
            f"systemctl list-units failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
        )
    names = [row[0] for row in parse_list(res.stdout, 5)]
    if not names:
        return Timers(timers=[])
    props = await show(ctx, names, _TIMER_PROPS)
    targets = [pr.get("Unit", "") for pr in props]
    results = (
        {
            pr.get("Id", ""): pr.get("Result", "")
            for pr in await show(ctx, [t for t in targets if t], ("Id", "Result"))
        }
        if any(targets)
        else {}
    )
    out = []
    for pr in props:
        unit = pr.get("Unit", "")
        out.append(
            Timer(
                timer=pr.get("Id", ""),
                description=pr.get("Description", ""),
                active=pr.get("ActiveState", ""),
                activates=unit,
                calendar=_exprs(pr.get("TimersCalendar", "")),
                monotonic=_exprs(pr.get("TimersMonotonic", "")),
                persistent=pr.get("Persistent") == "yes",
                next_elapse=pr.get("NextElapseUSecRealtime", ""),
                last_trigger=pr.get("LastTriggerUSec", ""),
                result=pr.get("Result", ""),
                service_result=results.get(unit, ""),
            )
        )
    return Timers(timers=out)
