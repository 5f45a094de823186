"""Schedule a one-off command with ``at``, or cancel one.

``sched.at.add`` queues a command to run once, at an exact time (ISO 8601, e.g.
``2030-01-01T12:00``) or at a time ``at`` understands (``now + 2 hours``,
``23:00``, ``noon tomorrow``), in a chosen queue letter and working
directory, and returns the job id and the time atd will run it; note that
without a running ``atd`` nothing is executed. ``sched.at.remove`` cancels a
pending job by id (``atrm``) and fails with ``A017`` when no such job is
queued. Needs the ``at`` package.
"""

from __future__ import annotations

import datetime
import os
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

from ._at import ENV, AtJob, atq

PLUGIN = Plugin(
    "sched.at", domain="scheduling", requires=["at", "atq", "atrm"]
)

_SPEC = re.compile(r"^[A-Za-z0-9 :+.-]{1,64}$")


class AtAddParams(msgspec.Struct, forbid_unknown_fields=True):
    command: Annotated[str, code("command")]
    when: str
    """ISO date-time, or an at time spec such as ``now + 1 hour``."""
    queue: str = "a"
    workdir: str = "/"


class AtRemoveParams(msgspec.Struct, forbid_unknown_fields=True):
    id: Annotated[int, msgspec.Meta(gt=0)]


class AtAdded(msgspec.Struct):
    job: AtJob
    atd_running: bool
    """False when atd is not running: the job waits but will not run until it is."""


class AtRemoved(msgspec.Struct):
    id: int
    removed: bool


def _time_args(when: str) -> list[str]:
    try:
        t = datetime.datetime.fromisoformat(when)
    except ValueError:
        if not _SPEC.match(when) or when.startswith("-"):
            raise InvalidParams(
                f"when: {when!r} is neither ISO 8601 nor an at time spec"
            ) from None
        return when.split()
    if t.tzinfo is not None:
        t = t.astimezone().replace(tzinfo=None)  # at reads the host's local time
    return ["-t", t.strftime("%Y%m%d%H%M.%S")]


def _atd_running() -> bool:
    try:
        with open("/run/atd.pid") as fh:
            pid = int(fh.read().strip() or 0)
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False


@action("sched.at.add", risk=Risk.DANGER, timeout=30)
async def add(ctx: ActionContext, p: AtAddParams) -> AtAdded:
    """Queue a command to run once at a given time; returns the job id and time."""
    if not re.fullmatch(r"[a-z]", p.queue):
        raise InvalidParams("queue: must be one lowercase letter a-z")
    if not p.command.strip():
        raise InvalidParams("command: must not be empty")
    if not os.path.isabs(p.workdir):
        raise InvalidParams(f"workdir: {p.workdir!r} is not an absolute path")
    before = {j.id for j in await atq(ctx)}
    res = await ctx.run(
        ["at", "-q", p.queue, *_time_args(p.when)],
        input=p.command.rstrip("\n") + "\n",
        cwd=p.workdir,
        env=ENV,
        c_locale=True,
    )
    m = re.search(r"job (\d+) at", res.stderr + res.stdout)
    if res.exit_code != 0 or m is None:
        err = (res.stderr or res.stdout).strip().splitlines()
        reason = next((ln for ln in err if not ln.startswith("warning:")), err[-1] if err else "")
        code = ErrorCode.A002 if "Garbled time" in reason or "past" in reason else ErrorCode.A014
        raise ActionError(f"at refused the job: {reason}", code=code, data=res)
    job_id = int(m.group(1))
    job = next((j for j in await atq(ctx) if j.id == job_id and j.id not in before), None)
    if job is None:
        raise ActionError(f"at said job {job_id} but it is not in the queue", code=ErrorCode.A014)
    return AtAdded(job=job, atd_running=_atd_running())


@action("sched.at.remove", risk=Risk.CHANGE, timeout=30)
async def remove(ctx: ActionContext, p: AtRemoveParams) -> AtRemoved:
    """Cancel a pending at job by id."""
    if p.id not in {j.id for j in await atq(ctx)}:
        raise NotFound(f"no pending at job {p.id}")
    res = await ctx.run(["atrm", str(p.id)], env=ENV, c_locale=True)
    if res.exit_code != 0:
        raise ActionError(f"atrm failed: {res.stderr.strip()}", code=ErrorCode.A014, data=res)
    return AtRemoved(id=p.id, removed=p.id not in {j.id for j in await atq(ctx)})
