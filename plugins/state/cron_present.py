"""Ensure a cron job exists (or not) in a cron.d file, keyed by a name, idempotently.

``state.cron.present`` manages entries of a system crontab in ``/etc/cron.d``
(``/etc/cron.d/starling`` by default): each entry is the line
``schedule user command`` under a marker comment ``# starling: <name>``, so
the same name always edits the same entry and nothing else in the file is
touched. It validates the schedule (five fields or ``@daily``-style) and the
user, and returns ``changed``, a unified diff and a comment; ``dry_run`` only
reports; a second run changes nothing. The file is written atomically with
mode 0644 as cron requires. Changes the crontab (unless ``dry_run``).
"""

from __future__ import annotations

import os
import pwd
import re
from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, NotFound, Plugin, Risk, abs_path, action, code

from ._common import StateResult, ensure_text, read_text

PLUGIN = Plugin("state.cron.present", domain="state")

MARKER = "# starling: "
HEADER = "# Managed by Starling (cron.present): each job is keyed by the comment above it.\n"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_FIELD = re.compile(r"^[0-9A-Za-z*/,-]+$")
_SPECIAL = {"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_CRON_D_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class CronParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    schedule: str = ""
    command: Annotated[str, code("command")] = ""
    user: str = "root"
    present: bool = True
    path: Annotated[str, code("path")] = "/etc/cron.d/starling"
    dry_run: bool = False


def check_schedule(schedule: str) -> str:
    """The schedule with blanks normalised; A002 unless 5 fields or an @keyword."""
    fields = schedule.split()
    if len(fields) == 1 and fields[0] in _SPECIAL:
        return fields[0]
    if len(fields) != 5 or not all(_FIELD.match(f) for f in fields):
        raise InvalidParams(f"schedule: {schedule!r} is not five cron fields or one of {', '.join(sorted(_SPECIAL))}")
    return " ".join(fields)


def edit(text: str, name: str, entry: str | None) -> str:
    """``text`` with the job ``name`` set to ``entry`` (None removes it)."""
    lines = text.splitlines(keepends=True)
    marker = f"{MARKER}{name}"
    out: list[str] = []
    found = False
    i = 0
    while i < len(lines):
        if lines[i].rstrip("\n") == marker:
            found = True
            has_entry = i + 1 < len(lines) and not lines[i + 1].startswith("#")
            if entry is not None:
                out += [f"{marker}\n", f"{entry}\n"]
            i += 2 if has_entry else 1
            continue
        out.append(lines[i])
        i += 1
    if not found and entry is not None:
        if not out:
            out.append(HEADER)
        elif not out[-1].endswith("\n"):
            out[-1] += "\n"
        out += [f"{marker}\n", f"{entry}\n"]
    return "".join(out)


@action("state.cron.present", risk=Risk.DANGER, timeout=30)
async def present(ctx: ActionContext, p: CronParams) -> StateResult:
    """Ensure the cron job ``name`` is in ``path`` with ``schedule``, ``user`` and ``command``."""
    path = abs_path(p.path)
    if not _NAME.match(p.name):
        raise InvalidParams(f"name: {p.name!r} must be letters, digits, '_', '-' or '.'")
    if os.path.dirname(path) == "/etc/cron.d" and not _CRON_D_NAME.match(os.path.basename(path)):
        raise InvalidParams(f"path: cron ignores files in /etc/cron.d whose name has a '.' ({os.path.basename(path)})")
    entry = None
    if p.present:
        if not p.command.strip() or "\n" in p.command:
            raise InvalidParams("command: required, on one line")
        try:
            pwd.getpwnam(p.user)
        except KeyError:
            raise NotFound(f"no user named {p.user!r}") from None
        entry = f"{check_schedule(p.schedule)} {p.user} {p.command.strip()}"
    old = read_text(path)
    if old is None and entry is None:
        return StateResult(name=p.name, changed=False, dry_run=p.dry_run, diff="", comment=f"{path} does not exist; job {p.name} is absent")
    new = edit(old or "", p.name, entry)
    result = ensure_text(path, old, new, dry_run=p.dry_run, mode=0o644, uid=0 if os.geteuid() == 0 else -1, what=f"cron job {p.name}")
    result.name = p.name
    return result
