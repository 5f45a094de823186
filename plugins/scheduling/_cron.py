"""Cron schedules: parse, validate and compute the next run times.

Not a plugin; shared by ``sched.cron``, ``sched.cron.list`` and ``sched.cron.next``. The rules
are Vixie/cronie cron's: five fields (minute, hour, day of month, month, day
of week), ``*``, ranges, steps, lists and English names, the ``@daily`` style
shortcuts, and the day rule: when both day fields are restricted a day
matches if *either* matches, and a field counts as unrestricted when it
starts with ``*`` (so ``*/2`` in one day field still means "and").
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

SHORTCUTS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# (name, low, high, names-with-their-first-value)
_FIELDS = [
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, (_MONTHS, 1)),
    ("day of week", 0, 7, (_DAYS, 0)),
]


class CronError(ValueError):
    """A schedule cron would refuse; the message says which field and why."""


@dataclass(frozen=True)
class Schedule:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 = Sunday (7 is folded into 0)."""
    dom_star: bool
    dow_star: bool
    reboot: bool = False

    def matches(self, t: datetime.datetime) -> bool:
        if t.minute not in self.minutes or t.hour not in self.hours or t.month not in self.months:
            return False
        dom = t.day in self.days
        dow = (t.isoweekday() % 7) in self.weekdays
        if self.dom_star or self.dow_star:
            return dom and dow
        return dom or dow

    def next_runs(self, start: datetime.datetime, count: int) -> list[datetime.datetime]:
        """The next ``count`` wall-clock times strictly after ``start`` (naive or aware)."""
        if self.reboot:
            return []
        out: list[datetime.datetime] = []
        t = start.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
        # Feb 29 on a Monday recurs after 28 years; "Feb 31" never does: stop after a century.
        limit = start + datetime.timedelta(days=366 * 100)
        while len(out) < count and t <= limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + datetime.timedelta(days=32)).replace(
                    day=1
                )
                continue
            day_ok = self.matches(t.replace(hour=min(self.hours), minute=min(self.minutes)))
            if not day_ok:
                t = t.replace(hour=0, minute=0) + datetime.timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = t.replace(minute=0) + datetime.timedelta(hours=1)
                continue
            if t.minute in self.minutes:
                out.append(t)
            t += datetime.timedelta(minutes=1)
        return out


def _value(token: str, field: int) -> int:
    name, low, high, names = _FIELDS[field]
    if names and token[:3].lower() in names[0] and not token.isdigit():
        if len(token) != 3:
            raise CronError(f"{name}: {token!r} is not a valid name (use three letters)")
        return names[0].index(token.lower()) + names[1]
    if not token.isdigit():
        raise CronError(f"{name}: {token!r} is not a number")
    value = int(token)
    if not low <= value <= high:
        raise CronError(f"{name}: {value} is outside {low}-{high}")
    return value


def parse_field(text: str, field: int) -> frozenset[int]:
    name, low, high, _ = _FIELDS[field]
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{name}: empty list item in {text!r}")
        rng, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{name}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if rng == "*":
            a, b = low, high
        elif "-" in rng:
            first, _, last = rng.partition("-")
            a, b = _value(first, field), _value(last, field)
            if a > b:
                raise CronError(f"{name}: range {rng!r} runs backwards")
        else:
            a = _value(rng, field)
            b = high if slash else a  # "5/15" means 5-max/15, as cronie reads it
        values.update(range(a, b + 1, step))
    if field == 4 and 7 in values:
        values.discard(7)
        values.add(0)
    return frozenset(values)


def parse(text: str) -> Schedule:
    """Parse a schedule (five fields or an ``@`` shortcut)."""
    spec = text.strip()
    if spec == "@reboot":
        empty: frozenset[int] = frozenset()
        return Schedule(spec, empty, empty, empty, empty, empty, True, True, reboot=True)
    if spec.startswith("@"):
        if spec not in SHORTCUTS:
            raise CronError(f"unknown shortcut {spec!r} (known: @reboot, {', '.join(SHORTCUTS)})")
        fields = SHORTCUTS[spec].split()
    else:
        fields = spec.split()
    if len(fields) != 5:
        raise CronError(
            f"a schedule has 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    minutes, hours, days, months, weekdays = (parse_field(f, i) for i, f in enumerate(fields))
    return Schedule(
        spec, minutes, hours, days, months, weekdays,
        dom_star=fields[2].startswith("*"), dow_star=fields[4].startswith("*"),
    )


_ENV = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def split_entry(line: str, with_user: bool) -> tuple[str, str, str]:
    """``(schedule, user, command)`` of one crontab line (``user`` empty for user crontabs)."""
    text = line.strip()
    if text.startswith("@"):
        parts = text.split(None, 2 if with_user else 1)
        sched, rest = parts[0], parts[1:]
    else:
        parts = text.split(None, 6 if with_user else 5)
        sched, rest = " ".join(parts[:5]), parts[5:]
    if with_user:
        if len(rest) < 2:
            raise CronError("missing user or command")
        return sched, rest[0], rest[1]
    if not rest:
        raise CronError("missing command")
    return sched, "", rest[0]


def env_assignment(line: str) -> tuple[str, str] | None:
    """``NAME=value`` lines of a crontab (quotes stripped), else ``None``."""
    m = _ENV.match(line)
    if not m or line.lstrip().startswith(("@", "*")) or line.strip()[0].isdigit():
        return None
    value = m.group(2).strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return m.group(1), value
