"""Send one signal to a process or its process group, guarded against pid reuse.

``proc.signals`` delivers ``signal`` (name or number: ``HUP`` to reload a
daemon, ``USR1`` to reopen logs, ``STOP``/``CONT``, ``TERM``) to ``pid``, or to
its whole process group with ``group``. ``expect_name`` makes the call
refuse (``A017``) when the pid now belongs to another program, so a stale pid
from a listing cannot hit the wrong process. pid 1 and the agent itself (and
its parents) are refused. For a stop that waits and escalates, use
``proc.kill``.
"""

from __future__ import annotations

import os

import msgspec

from agent_core import (
    ActionContext,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    action,
)
from plugins.processes._common import check_expected_name, get_process, guard_target, parse_signal

PLUGIN = Plugin("proc.signals", domain="processes", requires_files=["/proc/self/stat"])


class Params(msgspec.Struct, forbid_unknown_fields=True):
    pid: int
    signal: str | int = "TERM"
    group: bool = False
    expect_name: str | None = None


class Sent(msgspec.Struct):
    pid: int
    name: str
    signal: str
    number: int
    pgid: int | None


@action("proc.signals", risk=Risk.DANGER, timeout=10)
async def send(ctx: ActionContext, p: Params) -> Sent:
    """Send ``signal`` to ``pid`` (or its process group); refuses init, the agent and a reused pid."""
    sig = parse_signal(p.signal)
    guard_target(p.pid)
    proc = get_process(p.pid)
    check_expected_name(proc, p.expect_name)
    name = proc.name()
    pgid = None
    try:
        if p.group:
            pgid = os.getpgid(p.pid)
            if pgid in (0, 1) or pgid == os.getpgid(0):
                raise InvalidParams(f"refusing to signal process group {pgid} (it holds init or the agent)")
            os.killpg(pgid, sig)
        else:
            os.kill(p.pid, sig)
    except ProcessLookupError:
        raise NotFound(f"process {p.pid} exited before the signal") from None
    return Sent(pid=p.pid, name=name, signal=sig.name, number=int(sig), pgid=pgid)
