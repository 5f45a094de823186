"""Stop a process (and optionally its descendants): TERM, wait, then KILL what is left.

``proc.kill`` does what an operator does by hand: send ``signal`` (default
``TERM``) to ``pid`` and, with ``tree``, to every descendant; wait up to
``grace`` seconds for them to exit; then, with ``escalate`` (the default),
send ``SIGKILL`` to whatever still runs and wait again. Each process is
reported with how it ended (``exited``, ``killed``, ``already gone``, or
``still running``: uninterruptible sleep cannot be killed). ``expect_name``
refuses a reused pid; init and the agent itself are refused.
"""

from __future__ import annotations

import signal
import time
from typing import Annotated, Any

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from plugins.processes._common import (
    agent_lineage,
    check_expected_name,
    get_process,
    guard_target,
    parse_signal,
)

PLUGIN = Plugin("proc.kill", domain="processes", requires_files=["/proc/self/stat"])

KILL_WAIT = 5.0
POLL = 0.05


class Params(msgspec.Struct, forbid_unknown_fields=True):
    pid: int
    signal: str | int = "TERM"
    grace: Annotated[float, msgspec.Meta(ge=0, le=300)] = 10.0
    tree: bool = False
    escalate: bool = True
    expect_name: str | None = None


class Outcome(msgspec.Struct):
    pid: int
    name: str
    result: str
    signals: list[str]


class Killed(msgspec.Struct):
    processes: list[Outcome]
    all_gone: bool
    seconds: float


def _gone(proc: Any) -> bool:
    """Exited, or a zombie waiting for its parent to reap it (it runs no more code)."""
    import psutil

    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def _wait(ctx: ActionContext, procs: list[Any], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all(_gone(p) for p in procs):
        await ctx.sleep(POLL)


def _signal_all(procs: list[Any], sig: signal.Signals, outcomes: dict[int, Outcome]) -> None:
    import psutil

    for proc in procs:
        if _gone(proc):
            continue
        try:
            proc.send_signal(sig)
            outcomes[proc.pid].signals.append(sig.name)
        except psutil.NoSuchProcess:
            pass


@action("proc.kill", risk=Risk.DANGER, timeout=330)
async def kill(ctx: ActionContext, p: Params) -> Killed:
    """Send ``signal`` (to the tree with ``tree``), wait ``grace`` seconds, SIGKILL survivors; report each end."""
    import psutil

    sig = parse_signal(p.signal)
    guard_target(p.pid)
    root = get_process(p.pid)
    check_expected_name(root, p.expect_name)
    procs = [root]
    if p.tree:
        try:
            protected = agent_lineage()
            procs += [c for c in root.children(recursive=True) if c.pid not in protected]
        except psutil.NoSuchProcess:
            pass
    outcomes: dict[int, Outcome] = {}
    for proc in procs:
        try:
            name = proc.name()
        except psutil.NoSuchProcess:
            name = "?"
        outcomes[proc.pid] = Outcome(pid=proc.pid, name=name, result="", signals=[])
    t0 = time.monotonic()
    _signal_all(procs, sig, outcomes)
    await _wait(ctx, procs, p.grace)
    survivors = [proc for proc in procs if not _gone(proc)]
    if survivors and p.escalate and sig != signal.SIGKILL:
        _signal_all(survivors, signal.SIGKILL, outcomes)
        await _wait(ctx, survivors, KILL_WAIT)
    for proc in procs:
        o = outcomes[proc.pid]
        if not _gone(proc):
            o.result = "still running"
        elif not o.signals:
            o.result = "already gone"
        elif o.signals[-1] == "SIGKILL" and sig != signal.SIGKILL:
            o.result = "killed"
        else:
            o.result = "exited"
    result = list(outcomes.values())
    return Killed(
        processes=result,
        all_gone=all(o.result != "still running" for o in result),
        seconds=round(time.monotonic() - t0, 3),
    )
