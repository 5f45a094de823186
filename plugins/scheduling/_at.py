"""Shared pieces of the ``at`` plugins: reading ``atq`` and ``at -c``.

Not a plugin (no entry point).
"""

from __future__ import annotations

import datetime
import re

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, NotFound

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"}


class AtJob(msgspec.Struct):
    id: int
    time: str
    """ISO 8601 (host local time, as atd reads it)."""
    queue: str
    """``a``-``z``; ``=`` while the job is running."""
    user: str
    running: bool
    script: str = ""


def parse_atq(text: str) -> list[AtJob]:
    jobs = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 8 or not f[0].isdigit():
            continue
        try:
            when = datetime.datetime.strptime(" ".join(f[1:6]), "%a %b %d %H:%M:%S %Y").isoformat()
        except ValueError:
            when = " ".join(f[1:6])
        jobs.append(AtJob(id=int(f[0]), time=when, queue=f[6], user=f[7], running=f[6] == "="))
    return sorted(jobs, key=lambda j: (j.time, j.id))


def job_script(text: str) -> str:
    """The user's commands inside the shell script ``at -c`` prints."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^\$\{SHELL:-/bin/sh\} << '(marcinDELIMITER\w+)'", line)
        if m:
            end = next((j for j in range(i + 1, len(lines)) if lines[j] == m.group(1)), len(lines))
            return "\n".join(lines[i + 1 : end]).strip()
    # Without the heredoc form the commands follow the "cd DIR || { ... }" block.
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("cd ") and "||" in lines[i]:
            close = next((j for j in range(i, len(lines)) if lines[j].strip() == "}"), i)
            return "\n".join(lines[close + 1 :]).strip()
    return text.strip()


async def atq(ctx: ActionContext, queue: str | None = None) -> list[AtJob]:
    res = await ctx.run(["atq", *(["-q", queue] if queue else [])], env=ENV, c_locale=True)
    if res.exit_code != 0:
        raise ActionError(f"atq failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res)
    return parse_atq(res.stdout)


async def script_of(ctx: ActionContext, job: int) -> str:
    res = await ctx.run(["at", "-c", str(job)], env=ENV, c_locale=True)
    if res.exit_code != 0:
        raise NotFound(f"no at job {job}")
    return job_script(res.stdout)
