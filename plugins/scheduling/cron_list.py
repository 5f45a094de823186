"""Every cron job on the host: system crontabs, ``/etc/cron.d`` and user crontabs.

``sched.cron.list`` reads ``/etc/crontab``, the files in ``/etc/cron.d`` and every
user's crontab in the spool (``/var/spool/cron/crontabs`` on Debian,
``/var/spool/cron`` on Red Hat) and returns each job with its schedule, the
user it runs as, the command, its source file and line, and the environment
lines (``MAILTO``, ``PATH``...) that apply to it. It reports what cron would
silently skip: invalid lines, ``cron.d`` files whose name cron ignores, and
crontabs of users that no longer exist. With ``root`` it reads an image or
chroot. Read only (reading other users' crontabs needs root).
"""

from __future__ import annotations

import os
import re

import msgspec

from agent_core import (
    ActionContext,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    action,
)

from ._cron import CronError, env_assignment, parse, split_entry

PLUGIN = Plugin("sched.cron.list", domain="scheduling")

SPOOLS = ("var/spool/cron/crontabs", "var/spool/cron")
# Debian's cron reads cron.d files named like run-parts wants: letters, digits, _ and -.
_CRON_D_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class CronListParams(msgspec.Struct, forbid_unknown_fields=True):
    user: str | None = None
    root: str | None = None


class CronJob(msgspec.Struct):
    source: str
    line: int
    user: str
    schedule: str
    command: str
    env: dict[str, str]
    managed_id: str
    """The id given by ``sched.cron.add`` (from its ``# starling:`` marker), else empty."""


class CronList(msgspec.Struct):
    jobs: list[CronJob]
    problems: list[str]
    files: list[str]


def parse_crontab(text: str, source: str, user: str | None) -> tuple[list[CronJob], list[str]]:
    """Jobs of one crontab; ``user`` None means a system crontab with a user column."""
    jobs: list[CronJob] = []
    problems: list[str] = []
    env: dict[str, str] = {}
    marker = ""
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            m = re.match(r"^#\s*starling:([A-Za-z0-9_.-]+)", line)
            marker = m.group(1) if m else ""
            continue
        assignment = env_assignment(line)
        if assignment:
            env[assignment[0]] = assignment[1]
            continue
        try:
            sched, owner, command = split_entry(line, with_user=user is None)
            parse(sched)
        except CronError as exc:
            problems.append(f"{source}:{no}: {exc}")
            marker = ""
            continue
        jobs.append(
            CronJob(
                source=source,
                line=no,
                user=owner or user or "",
                schedule=sched,
                command=command,
                env=dict(env),
                managed_id=marker,
            )
        )
        marker = ""
    return jobs, problems


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(1024 * 1024)
    except (FileNotFoundError, IsADirectoryError):
        return None


def collect(root: str) -> CronList:
    strip = len(root.rstrip("/"))
    jobs: list[CronJob] = []
    problems: list[str] = []
    files: list[str] = []

    def add(path: str, user: str | None) -> None:
        text = _read(path)
        if text is None:
            return
        files.append(path[strip:])
        j, p = parse_crontab(text, path[strip:], user)
        jobs.extend(j)
        problems.extend(p)

    add(os.path.join(root, "etc/crontab"), None)
    cron_d = os.path.join(root, "etc/cron.d")
    if os.path.isdir(cron_d):
        for name in sorted(os.listdir(cron_d)):
            path = os.path.join(cron_d, name)
            if not os.path.isfile(path):
                continue
            if not _CRON_D_NAME.match(name):
                problems.append(
                    f"/etc/cron.d/{name}: ignored by cron (file names may only hold letters, digits, '_' and '-')"
                )
                continue
            add(path, None)
    known = {
        e.split(":")[0]
        for e in (_read(os.path.join(root, "etc/passwd")) or "").splitlines()
        if ":" in e
    }
    for spool in SPOOLS:
        sdir = os.path.join(root, spool)
        if not os.path.isdir(sdir):
            continue
        for name in sorted(os.listdir(sdir)):
            path = os.path.join(sdir, name)
            if not os.path.isfile(path) or name.startswith(("tmp.", ".")):
                continue
            if known and name not in known:
                problems.append(f"{path[strip:]}: crontab of {name}, who is not a user")
            add(path, name)
        break  # Debian's spool is the first; Red Hat's is the second: never both
    return CronList(jobs=jobs, problems=problems, files=files)


@action("sched.cron.list", risk=Risk.READ, timeout=20)
async def cron_list(ctx: ActionContext, p: CronListParams) -> CronList:
    """Cron jobs (schedule, user, command, source, env) from every crontab, plus what cron skips."""
    root = "/"
    if p.root is not None:
        if not os.path.isabs(p.root):
            raise InvalidParams(f"root: {p.root!r} is not an absolute path")
        root = p.root
    if p.user is not None and not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$", p.user):
        raise InvalidParams(f"user: {p.user!r} is not a user name")
    result = _collect_checked(root)
    if p.user is not None:
        result.jobs = [j for j in result.jobs if j.user == p.user]
    return result


def _collect_checked(root: str) -> CronList:
    if not os.path.isdir(root):
        raise NotFound(f"root: {root} is not a directory")
    return collect(root)
