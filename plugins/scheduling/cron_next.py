"""Validate a cron schedule and show when it will run next.

``sched.cron.next`` parses a schedule exactly as cron does (five fields or an
``@daily``-style shortcut, names, ranges, steps, and cron's either-day rule
when both day fields are set) and returns the next run times after now (or
after ``start``) in the host's time zone or a named one. A schedule cron
would refuse fails with ``A002`` naming the field and the reason, so a
schedule can be checked before it is deployed with ``sched.cron.add``. Computes
only; reads and changes nothing.
"""

from __future__ import annotations

import datetime
from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, action

from ._cron import CronError, parse

PLUGIN = Plugin("sched.cron.next", domain="scheduling")


class NextParams(msgspec.Struct, forbid_unknown_fields=True):
    schedule: str
    count: Annotated[int, msgspec.Meta(ge=1, le=500)] = 5
    start: str | None = None
    """ISO 8601 date-time to count from (default: now)."""
    tz: str | None = None
    """IANA time zone such as ``Europe/Paris`` (default: the host's)."""


class NextRuns(msgspec.Struct):
    schedule: str
    valid: bool
    at_reboot: bool
    runs: list[str]
    """ISO 8601 times with UTC offset."""
    expanded: dict[str, list[int]]
    """The values each field allows."""


def _zone(name: str | None) -> datetime.tzinfo | None:
    if name is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidParams(f"tz: unknown time zone {name!r}") from None


@action("sched.cron.next", risk=Risk.READ, timeout=10)
async def cron_next(ctx: ActionContext, p: NextParams) -> NextRuns:
    """Check a cron schedule and list its next ``count`` run times."""
    try:
        sched = parse(p.schedule)
    except CronError as exc:
        raise InvalidParams(f"schedule: {exc}") from None
    zone = _zone(p.tz)
    if p.start is not None:
        try:
            start = datetime.datetime.fromisoformat(p.start)
        except ValueError:
            raise InvalidParams(
                f"start: {p.start!r} is not an ISO 8601 date-time"
            ) from None
        if start.tzinfo is not None:
            start = start.astimezone(zone) if zone else start.astimezone()
    else:
        start = datetime.datetime.now(zone) if zone else datetime.datetime.now().astimezone()
    # Cron works on the wall clock of its zone: step through naive wall-clock times,
    # then attach the zone (the host's when none is given).
    found = sched.next_runs(start.replace(tzinfo=None), p.count)
    runs = [t.replace(tzinfo=zone) if zone else t.astimezone() for t in found]
    return NextRuns(
        schedule=p.schedule,
        valid=True,
        at_reboot=sched.reboot,
        runs=[t.isoformat() for t in runs],
        expanded={
            "minute": sorted(sched.minutes),
            "hour": sorted(sched.hours),
            "day_of_month": sorted(sched.days),
            "month": sorted(sched.months),
            "day_of_week": sorted(sched.weekdays),
        },
    )
