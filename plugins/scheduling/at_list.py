"""Pending one-off ``at`` jobs: when, which queue, whose, and what they run.

``sched.at.list`` reads the ``at`` queue (``atq``) and returns every pending job
with its id, run time, queue letter (``=`` for a job running now) and owner,
optionally filtered by queue or user. With ``scripts`` it also shows each
job's commands, taken from the script ``at -c`` prints (without the
environment preamble), which is what to check before a maintenance window.
Needs the ``at`` package; read only.
"""

from __future__ import annotations

import re

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, action

from ._at import AtJob, atq, script_of

PLUGIN = Plugin(
    "sched.at.list", domain="scheduling", requires=["atq", "at"]
)


class AtListParams(msgspec.Struct, forbid_unknown_fields=True):
    queue: str | None = None
    user: str | None = None
    scripts: bool = False


class AtJobs(msgspec.Struct):
    jobs: list[AtJob]


@action("sched.at.list", risk=Risk.READ, timeout=30)
async def at_list(ctx: ActionContext, p: AtListParams) -> AtJobs:
    """Pending at jobs with time, queue, owner and (optionally) their commands."""
    if p.queue is not None and not re.fullmatch(r"[a-zA-Z=]", p.queue):
        raise InvalidParams(f"queue: {p.queue!r} is not a queue letter")
    if p.user is not None and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}", p.user):
        raise InvalidParams(f"user: {p.user!r} is not a user name")
    jobs = await atq(ctx, p.queue if p.queue != "=" else None)
    if p.queue == "=":
        jobs = [j for j in jobs if j.running]
    if p.user is not None:
        jobs = [j for j in jobs if j.user == p.user]
    if p.scripts:
        for j in jobs:
            j.script = await script_of(ctx, j.id)
    return AtJobs(jobs=jobs)
