"""anacron's jobs, when each last ran, and which are overdue.

``sched.anacron.jobs`` parses ``/etc/anacrontab``: its environment (``START_HOURS_RANGE``,
``RANDOM_DELAY``, ``MAILTO``...) and every job with period (days or
``@monthly``/``@weekly``/``@daily``/``@yearly``), delay, id and command. For
each job it reads anacron's timestamp file (``/var/spool/anacron/<id>``) and
says when the job last ran and whether it is due, so a daily job that has
not run for a week on a laptop-style host or a VM that is rarely up stands
out. When the ``anacron`` binary is present the table is also syntax-checked
with ``anacron -T``. With ``root`` it reads an image or chroot. Read only.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil

import msgspec

from agent_core import (
    ActionContext,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    action,
)

PLUGIN = Plugin(
    "sched.anacron",
    domain="scheduling",
    requires_files=["/etc/anacrontab"],
)

_PERIODS = {"@daily": 1, "@weekly": 7, "@monthly": 30, "@yearly": 365, "@annually": 365}
_ENV = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


class AnacronParams(msgspec.Struct, forbid_unknown_fields=True):
    root: str | None = None


class AnacronJob(msgspec.Struct):
    id: str
    period: str
    period_days: int
    delay_minutes: int
    command: str
    line: int
    last_run: str | None
    """Date of the last run (anacron records days, not times)."""
    due: bool


class Anacron(msgspec.Struct):
    path: str
    env: dict[str, str]
    jobs: list[AnacronJob]
    problems: list[str]
    syntax_ok: bool | None
    """``anacron -T``'s verdict; None when the binary is not installed or for another root."""


def _last_run(spool: str, ident: str) -> datetime.date | None:
    try:
        with open(os.path.join(spool, ident)) as fh:
            text = fh.read().strip()
        return datetime.datetime.strptime(text[:8], "%Y%m%d").date()
    except (OSError, ValueError):
        return None


def parse_anacrontab(
    text: str, spool: str, today: datetime.date
) -> tuple[dict[str, str], list[AnacronJob], list[str]]:
    env: dict[str, str] = {}
    jobs: list[AnacronJob] = []
    problems: list[str] = []
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if m := _ENV.match(line):
            env[m.group(1)] = m.group(2).strip().strip("\"'")
            continue
        f = line.split(None, 3)
        if len(f) < 4:
            problems.append(f"line {no}: expected 'period delay id command'")
            continue
        period, delay, ident, command = f
        days = (
            _PERIODS.get(period)
            if period.startswith("@")
            else (int(period) if period.isdigit() else None)
        )
        if days is None or not delay.isdigit():
            problems.append(f"line {no}: bad period {period!r} or delay {delay!r}")
            continue
        if "/" in ident:
            problems.append(f"line {no}: job id {ident!r} must not contain '/'")
            continue
        last = _last_run(spool, ident)
        due = last is None or (today - last).days >= days
        if period == "@monthly" and last is not None:
            due = (today.year, today.month) != (last.year, last.month)
        jobs.append(
            AnacronJob(
                id=ident,
                period=period,
                period_days=days,
                delay_minutes=int(delay),
                command=command,
                line=no,
                last_run=last.isoformat() if last else None,
                due=due,
            )
        )
    return env, jobs, problems


def load(root: str) -> tuple[str, str]:
    path = os.path.join(root, "etc/anacrontab")
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return path, fh.read(1024 * 1024)
    except FileNotFoundError:
        raise NotFound(f"{path} does not exist") from None


@action("sched.anacron.jobs", risk=Risk.READ, timeout=20)
async def anacron(ctx: ActionContext, p: AnacronParams) -> Anacron:
    """Jobs of anacrontab with period, delay, command, last run date and whether they are due."""
    root = p.root or "/"
    if not root.startswith("/"):
        raise InvalidParams(f"root: {root!r} is not an absolute path")
    path, text = load(root)
    spool = os.path.join(root, "var/spool/anacron")
    env, jobs, problems = parse_anacrontab(text, spool, datetime.date.today())
    syntax_ok = None
    if shutil.which("anacron"):
        res = await ctx.run(
            ["anacron", "-T", "-t", path],
            env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin")},
            c_locale=True,
        )
        syntax_ok = res.exit_code == 0
        if not syntax_ok:
            problems.append(f"anacron -T: {(res.stderr or res.stdout).strip()}")
    return Anacron(
        path=path[len(root.rstrip("/")) :],
        env=env,
        jobs=jobs,
        problems=problems,
        syntax_ok=syntax_ok,
    )
