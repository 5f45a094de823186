"""List systemd units with their load, active and sub states.

``svc.list`` is ``systemctl list-units`` as data: every unit systemd has
loaded (or, with ``all``, also the inactive ones it knows), filtered by type
(service, timer, socket, mount...), by state (``running``, ``failed``,
``inactive``...) and by a name pattern such as ``nginx*``, with counts per
active state so a fleet-wide job can say "3 hosts have failed units". Needs a
running systemd; changes nothing.
"""

from __future__ import annotations

from collections import Counter

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action

from ._systemd import list_filters, parse_list, systemctl, systemd_running

PLUGIN = Plugin(
    "svc.list",
    domain="services",
    requires=["systemctl"],
    check=systemd_running,
)


class ListParams(msgspec.Struct, forbid_unknown_fields=True):
    type: str | None = "service"
    """Unit type, ``None`` for every type."""
    state: str | None = None
    """A load, active or sub state: ``running``, ``failed``, ``inactive``, ``not-found``..."""
    pattern: str | None = None
    all: bool = False
    """Include inactive units too."""


class UnitRow(msgspec.Struct):
    unit: str
    load: str
    active: str
    sub: str
    description: str


class UnitList(msgspec.Struct):
    units: list[UnitRow]
    by_active_state: dict[str, int]


@action("svc.list", risk=Risk.READ, timeout=30)
async def list_units(ctx: ActionContext, p: ListParams) -> UnitList:
    """Units with load/active/sub state and description, filtered by type, state and name."""
    args = ["list-units", "--plain", "--no-legend", "--full"]
    if p.all:
        args.append("--all")
    args += list_filters(p.type, p.state, p.pattern, "unit")
    res = await systemctl(ctx, args)
    if res.exit_code != 0:
        raise ActionError(
            f"systemctl list-units failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
        )
    units = [
        UnitRow(unit=r[0], load=r[1], active=r[2], sub=r[3], description=r[4])
        for r in parse_list(res.stdout, 5)
    ]
    return UnitList(units=units, by_active_state=dict(Counter(u.active for u in units)))
