"""The simulated fleet's trivial in-process executor.

``exec.run`` is interpreted, never spawned: the command line is split on ``;``,
``&&`` and newlines, and each simple command is one of

* ``echo WORDS`` — WORDS and a newline to stdout (discarded when redirected
  with ``>``/``>>``, since a simulated host has no files);
* ``sleep S`` — ``await trio.sleep(S)``;
* ``exit N`` / ``true`` / ``false`` — stop with that status.

Anything else succeeds with no output, and so does every other action. The
outcome is shaped like the real agent's: ``succeeded``, or ``failed`` with A008
and the exit code; the job's timeout gives ``timed_out``/A005 and a cancel
``cancelled``/A006.
"""

from __future__ import annotations

import math
import re
import shlex
import time
from typing import Any

import trio

from transports import ErrorCode, JobSpec, Result, decode_value

_SEPARATORS = re.compile(r"\s*(?:;|&&|\n)\s*")


def _words(part: str) -> list[str]:
    if not any(c in part for c in "'\"\\"):
        return part.split()  # nothing quoted: what shlex would give, at a tenth of the cost
    try:
        return shlex.split(part)
    except ValueError:
        return part.split()


async def interpret(cmd: str, sleep_limit: float = math.inf) -> tuple[int, str]:
    """Run the safe subset of ``cmd``; returns ``(exit_code, stdout)``.

    :param sleep_limit: seconds its sleeps may take in all; past them
        :class:`trio.TooSlowError`. Only a ``sleep`` waits, so only a command
        that sleeps arms a timer (a cancel scope with a deadline per task was a
        tenth of the fleet's CPU on an ``echo`` job).
    """
    out: list[str] = []
    deadline = math.inf
    for part in _SEPARATORS.split(cmd):
        words = _words(part)
        if not words:
            continue
        name, args = words[0], words[1:]
        redirected = any(w.startswith(">") for w in args)
        if name == "echo":
            if not redirected:
                out.append(" ".join(args) + "\n")
        elif name == "sleep":
            try:
                seconds = float(args[0]) if args else 0.0
            except ValueError:
                return 1, "".join(out)
            if deadline == math.inf:
                deadline = trio.current_time() + sleep_limit
            with trio.fail_at(deadline):
                await trio.sleep(max(seconds, 0.0))
        elif name == "exit":
            try:
                return int(args[0]) if args else 0, "".join(out)
            except ValueError:
                return 2, "".join(out)
        elif name == "false":
            return 1, "".join(out)
    return 0, "".join(out)


async def execute(task_id: str, job: JobSpec, cancel_scope: trio.CancelScope) -> Result:
    """Execute one task in-process and return its Result (never raises except
    ``trio.Cancelled`` from an enclosing scope)."""
    started = time.time()
    result: Result | None = None
    timed_out = False
    with cancel_scope:
        if job.action == "exec.run":
            try:
                params: Any = decode_value(job.params)
            except Exception:
                params = None
            cmd = params.get("cmd") if isinstance(params, dict) else None
            if not isinstance(cmd, str):
                return Result(task_id=task_id, state="failed", code=ErrorCode.A002.value,
                              message="exec.run needs a string 'cmd'", started=started, finished=time.time())
            try:
                code, stdout = await interpret(cmd, job.timeout if job.timeout > 0 else 60)
            except trio.TooSlowError:
                timed_out = True
            else:
                ok = code == 0
                result = Result(
                    task_id=task_id, state="succeeded" if ok else "failed",
                    code="" if ok else ErrorCode.A008.value, message="" if ok else f"exited with status {code}",
                    exit_code=code, stdout=stdout, started=started, finished=time.time(),
                )
        else:
            result = Result(task_id=task_id, state="succeeded", started=started, finished=time.time())
    if timed_out:
        return Result(task_id=task_id, state="timed_out", code=ErrorCode.A005.value,
                      message=f"timed out after {job.timeout:g}s", started=started, finished=time.time())
    if cancel_scope.cancelled_caught or result is None:
        return Result(task_id=task_id, state="cancelled", code=ErrorCode.A006.value,
                      message="cancelled", started=started, finished=time.time())
    return result
