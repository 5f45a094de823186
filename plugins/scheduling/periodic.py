"""The hourly/daily/weekly/monthly script directories and whether each script runs.

``sched.periodic`` lists the scripts in ``/etc/cron.hourly``, ``cron.daily``,
``cron.weekly`` and ``cron.monthly`` and says, for each, whether
``run-parts`` will actually run it: it must be an executable regular file and
its name may hold only letters, digits, ``_`` and ``-`` (a script called
``backup.sh`` is silently skipped, the classic surprise). It also shows what
triggers each directory (a line in ``/etc/crontab``, an ``anacrontab`` job,
or a systemd timer) so a directory nothing runs is spotted. With ``root`` it
reads an image or chroot. Read only.
"""

from __future__ import annotations

import os
import re
import stat

import msgspec

from agent_core import (
    ActionContext,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    action,
)

PLUGIN = Plugin("sched.periodic", domain="scheduling")

PERIODS = ("hourly", "daily", "weekly", "monthly")
# run-parts' default name rule (Debian); without --lsbsysinit dots are not allowed.
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class PeriodicParams(msgspec.Struct, forbid_unknown_fields=True):
    root: str | None = None


class Script(msgspec.Struct):
    name: str
    runs: bool
    reason: str
    """Why it will not run; empty when it will."""
    mode: str
    owner_uid: int


class PeriodDir(msgspec.Struct):
    period: str
    path: str
    exists: bool
    triggered_by: list[str]
    scripts: list[Script]


class Periodic(msgspec.Struct):
    directories: list[PeriodDir]
    problems: list[str]


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(1024 * 1024)
    except OSError:
        return ""


def _script(path: str, name: str) -> Script:
    st = os.lstat(path)
    mode = f"{stat.S_IMODE(st.st_mode):04o}"
    if name.startswith(".") or name in ("placeholder",):
        reason = "placeholder or hidden file"
    elif not _NAME.match(name):
        reason = "name has characters run-parts skips (only letters, digits, _ and -)"
    elif stat.S_ISLNK(st.st_mode) and not os.path.exists(path):
        reason = "broken symbolic link"
    elif not stat.S_ISREG(os.stat(path).st_mode):
        reason = "not a regular file"
    elif not os.access(path, os.X_OK):
        reason = "not executable"
    else:
        reason = ""
    return Script(name=name, runs=not reason, reason=reason, mode=mode, owner_uid=st.st_uid)


def triggers(root: str, period: str) -> list[str]:
    found = []
    target = f"/etc/cron.{period}"
    for line in _read(os.path.join(root, "etc/crontab")).splitlines():
        if target in line and not line.lstrip().startswith("#"):
            found.append(f"/etc/crontab: {line.strip()}")
    for line in _read(os.path.join(root, "etc/anacrontab")).splitlines():
        if target in line and not line.lstrip().startswith("#"):
            found.append(f"/etc/anacrontab: {line.strip()}")
    for unit_dir in ("etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system"):
        timer = os.path.join(root, unit_dir, f"cron-{period}.timer")
        if os.path.exists(timer):
            found.append(f"systemd timer /{unit_dir}/cron-{period}.timer")
    return found


def scan(root: str) -> Periodic:
    dirs = []
    problems = []
    for period in PERIODS:
        path = os.path.join(root, f"etc/cron.{period}")
        if not os.path.isdir(path):
            dirs.append(
                PeriodDir(
                    period=period,
                    path=f"/etc/cron.{period}",
                    exists=False,
                    triggered_by=[],
                    scripts=[],
                )
            )
            continue
        scripts = [_script(os.path.join(path, n), n) for n in sorted(os.listdir(path))]
        trig = triggers(root, period)
        dirs.append(
            PeriodDir(
                period=period,
                path=f"/etc/cron.{period}",
                exists=True,
                triggered_by=trig,
                scripts=scripts,
            )
        )
        real = [s for s in scripts if s.reason != "placeholder or hidden file"]
        for s in real:
            if not s.runs:
                problems.append(f"/etc/cron.{period}/{s.name} will not run: {s.reason}")
        if any(s.runs for s in real) and not trig:
            problems.append(f"/etc/cron.{period} has scripts but nothing runs the directory")
    return Periodic(directories=dirs, problems=problems)


@action("sched.periodic", risk=Risk.READ, timeout=20)
async def periodic(ctx: ActionContext, p: PeriodicParams) -> Periodic:
    """Scripts in cron.hourly/daily/weekly/monthly, whether run-parts runs each, and the triggers."""
    root = p.root or "/"
    if not root.startswith("/"):
        raise InvalidParams(f"root: {root!r} is not an absolute path")
    return _scan_checked(root)


def _scan_checked(root: str) -> Periodic:
    if not os.path.isdir(root):
        raise NotFound(f"root: {root} is not a directory")
    return scan(root)
