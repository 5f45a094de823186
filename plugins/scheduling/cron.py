"""Add or remove a cron job in a user's crontab, idempotently, by id.

``sched.cron.add`` puts one job into a user's crontab under a marker comment
(``# starling:<id>``): adding the same id again replaces that job in place,
and adding it unchanged changes nothing, so a fleet-wide job can be re-run
safely. The schedule is validated first (as ``sched.cron.next`` does), and ``%``
in the command, which cron would turn into a newline, is escaped unless asked
otherwise. ``sched.cron.remove`` deletes the job with that id. Everything else in
the crontab is left exactly as it was; the file is installed with
``crontab -u USER -``, which also checks it. Needs ``crontab``.
"""

from __future__ import annotations

import re
from typing import Annotated

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
    code,
)

from ._cron import CronError, parse

PLUGIN = Plugin(
    "sched.cron", domain="scheduling", requires=["crontab"]
)

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")
MARK = "# starling:"


class CronAddParams(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    schedule: str
    command: Annotated[str, code("command")]
    user: str = "root"
    escape_percent: bool = True
    """Write ``%`` as ``\\%`` so cron passes it through instead of starting stdin there."""


class CronRemoveParams(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    user: str = "root"


class CronChange(msgspec.Struct):
    user: str
    id: str
    changed: bool
    entry: str
    """The crontab line as installed (empty after a removal)."""
    jobs: int
    """Lines with a schedule in the user's crontab afterwards."""


def _check(user: str, ident: str) -> None:
    if not _USER.match(user):
        raise InvalidParams(f"user: {user!r} is not a user name")
    if not _ID.match(ident):
        raise InvalidParams(
            f"id: {ident!r} must be 1-64 letters, digits, '.', '_' or '-'"
        )

CRON_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"


async def read_crontab(ctx: ActionContext, user: str) -> list[str]:
    res = await ctx.run(
        ["crontab", "-u", user, "-l"], env={"PATH": CRON_PATH}, c_locale=True
    )
    if res.exit_code == 0:
        return res.stdout.splitlines()
    err = res.stderr.strip()
    if "no crontab for" in err:
        return []
    if "does not exist" in err or re.search(r"user .* unknown|unknown user", err, re.I):
        raise NotFound(f"no user named {user!r}")
    if "not allowed" in err:
        raise ActionError(f"crontab: {err}", code=ErrorCode.A016)
    raise ActionError(f"crontab -l failed: {err}", code=ErrorCode.A008, data=res)


async def write_crontab(ctx: ActionContext, user: str, lines: list[str]) -> None:
    text = "".join(ln + "\n" for ln in lines)
    res = await ctx.run(
        ["crontab", "-u", user, "-"],
        input=text,
        env={"PATH": CRON_PATH},
        c_locale=True,
    )
    if res.exit_code != 0:
        raise ActionError(
            f"crontab refused the new table: {res.stderr.strip()}", code=ErrorCode.A014, data=res
        )


def split_managed(lines: list[str], ident: str) -> tuple[list[str], int, str]:
    """Remove the marked block for ``ident``: (other lines, insert position, old entry)."""
    out: list[str] = []
    pos, old = -1, ""
    skip_next = False
    for line in lines:
        if skip_next:
            skip_next = False
            old = line
            continue
        if line.strip() == MARK + ident:
            pos = len(out)
            skip_next = True
            continue
        out.append(line)
    return out, pos, old


def count_jobs(lines: list[str]) -> int:
    return sum(
        1
        for ln in lines
        if ln.strip() and not ln.lstrip().startswith("#") and "=" not in ln.split(None, 1)[0]
    )


@action("sched.cron.add", risk=Risk.DANGER, timeout=30)
async def add(ctx: ActionContext, p: CronAddParams) -> CronChange:
    """Add (or replace) the job with this id in a user's crontab; unchanged when identical."""
    _check(p.user, p.id)
    try:
        parse(p.schedule)
    except CronError as exc:
        raise InvalidParams(f"schedule: {exc}") from None
    command = p.command.strip()
    if not command or "\n" in command or "\r" in command:
        raise InvalidParams("command: must be one non-empty line")
    if p.escape_percent:
        command = re.sub(r"(?<!\\)%", r"\\%", command)
    entry = f"{p.schedule.strip()} {command}"
    lines = await read_crontab(ctx, p.user)
    rest, pos, old = split_managed(lines, p.id)
    if old == entry:
        return CronChange(user=p.user, id=p.id, changed=False, entry=entry, jobs=count_jobs(lines))
    block = [MARK + p.id, entry]
    new = rest[:pos] + block + rest[pos:] if pos >= 0 else rest + block
    await write_crontab(ctx, p.user, new)
    return CronChange(user=p.user, id=p.id, changed=True, entry=entry, jobs=count_jobs(new))


@action("sched.cron.remove", risk=Risk.CHANGE, timeout=30)
async def remove(ctx: ActionContext, p: CronRemoveParams) -> CronChange:
    """Remove the job with this id from a user's crontab."""
    _check(p.user, p.id)
    lines = await read_crontab(ctx, p.user)
    rest, pos, _ = split_managed(lines, p.id)
    if pos < 0:
        raise NotFound(f"no job with id {p.id!r} in {p.user}'s crontab")
    await write_crontab(ctx, p.user, rest)
    return CronChange(user=p.user, id=p.id, changed=True, entry="", jobs=count_jobs(rest))
