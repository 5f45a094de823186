"""Reboot the host, now or after a delay, with a recorded reason (dry run available).

``sys.reboot`` validates its request (a reason is required and is broadcast to
logged-in users and logged; the delay is 0..1440 minutes), picks the way this
host reboots cleanly (``systemctl reboot`` on systemd, ``shutdown -r`` for a
delayed or non-systemd reboot, ``reboot`` as the last resort) and runs it.
With ``dry_run`` it only returns the command it would run. The agent answers
before the host goes down only for delayed reboots; an immediate one may cut
the result off, so the caller should expect the host to disappear and
come back with a new boot id (``sys.boot``).
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    Plugin,
    Risk,
    Unavailable,
    action,
)
from agent_core.procfs import systemd_running


def _check() -> str | None:
    """One of `systemctl`, `shutdown` or `reboot` on PATH."""
    if any(shutil.which(tool) for tool in ("systemctl", "shutdown", "reboot")):
        return None
    return "no systemctl, shutdown or reboot on PATH"


PLUGIN = Plugin("sys.reboot", domain="system", check=_check)

MAX_DELAY_MIN = 1440


class Params(msgspec.Struct, forbid_unknown_fields=True):
    reason: str
    delay_minutes: Annotated[int, msgspec.Meta(ge=0, le=MAX_DELAY_MIN)] = 0
    dry_run: bool = False


class RebootPlan(msgspec.Struct):
    command: list[str]
    method: str
    reason: str
    delay_minutes: int
    at: float
    dry_run: bool
    started: bool


def plan(reason: str, delay: int) -> tuple[str, list[str]]:
    """The method and argv to reboot this host with ``reason`` after ``delay`` minutes."""
    systemd = systemd_running()
    if systemd and delay == 0 and shutil.which("systemctl"):
        return "systemctl", ["systemctl", "reboot", f"--message={reason}"]
    if shutil.which("shutdown"):
        return "shutdown", ["shutdown", "-r", f"+{delay}" if delay else "now", reason]
    if delay == 0 and shutil.which("reboot"):
        return "reboot", ["reboot"]
    raise Unavailable("no way to schedule a delayed reboot here (no shutdown)")


@action("sys.reboot", risk=Risk.DANGER, timeout=60)
async def reboot(ctx: ActionContext, p: Params) -> RebootPlan:
    """Reboot now or in ``delay_minutes`` with a ``reason``; ``dry_run`` returns the command without running it."""
    reason = " ".join(p.reason.split())
    if not 3 <= len(reason) <= 200:
        raise InvalidParams("reason must be 3..200 characters: say why the host reboots")
    method, argv = plan(reason, p.delay_minutes)
    result = RebootPlan(
        command=argv,
        method=method,
        reason=reason,
        delay_minutes=p.delay_minutes,
        at=round(time.time() + 60 * p.delay_minutes, 3),
        dry_run=p.dry_run,
        started=False,
    )
    if p.dry_run:
        return result
    if os.geteuid() != 0:
        raise ActionError("rebooting needs root", code=ErrorCode.A016)
    ctx.log.warning("sys.reboot requested by task %s: %s", ctx.task_id, reason)
    await ctx.run(argv, check=True)
    result.started = True
    return result
