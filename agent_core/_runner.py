"""The task runner: child processes under the agent's control.

Each child runs under a *guardian* (:mod:`agent_core._guardian`, on Linux): a
tiny process, forked for it by the agent's guardian server
(:mod:`agent_core._guardserver`) or else started as an interpreter of its own,
that is the child subreaper of everything the command starts, so
no descendant escapes it by double-forking or ``setsid``. The guardian kills
the whole tree when the runner asks (timeout, cancel: SIGTERM to the guardian)
and when the agent dies, even by SIGKILL; when the command exits by itself, it
kills what still holds the task's output and leaves detached daemons. Where no
guardian can run, the child gets its own session and the runner kills its
process group and every descendant it can still see. Output is capped per
stream and can be streamed to the caller while it runs.

:data:`TASK_LABEL` names the task a child belongs to in its guardian's process
name (a hash of it) or command line, so an agent that restarts can find (and
kill) what its predecessor left.
"""

from __future__ import annotations

import contextvars
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import msgspec
import psutil
import trio

from transports import ErrorCode

from ._guardserver import GUARDIAN, ForkedChild, guard_server, guardian_name, start_error
from ._libc import subreaper_preexec
from ._sdk import ActionError

DEFAULT_MAX_OUTPUT = 1024 * 1024

#: The label of the task the current trio task runs (``state_dir:task_id``); the
#: executor sets it, the guardian's name or command line carries it.
TASK_LABEL: contextvars.ContextVar[str] = contextvars.ContextVar("starling_task_label", default="-")
#: Seconds the guardian gets to kill its tree before the runner kills what it sees.
GUARDIAN_GRACE = 5.0

OnOutput = Callable[[int, bytes], Awaitable[None]]


class ProcessResult(msgspec.Struct, omit_defaults=True):
    """What a finished child process left behind."""

    exit_code: int
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    duration: float = 0.0
    signal: int = 0


def task_label(state_dir: str | os.PathLike[str], task_id: str) -> str:
    """The label of one task of one agent (its state directory tells agents on one host apart)."""
    return f"{os.path.abspath(state_dir)}:{task_id}"


def guardians(label: str) -> list[psutil.Process]:
    """Live guardians whose task label is ``label`` (left by a previous agent): a
    forked one by its process name, a directly started one by its command line. The
    script may be another version's (an upgrade restarted the agent from elsewhere)."""
    name = guardian_name(label).decode()
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = proc.info.get("cmdline") or []
        if len(cmd) < 4 or os.path.basename(cmd[3]) != GUARDIAN.name:
            continue
        if proc.info.get("name") == name or (len(cmd) >= 8 and cmd[6] == label and cmd[7] == "--"):
            found.append(proc)
    return found


def guardian_available() -> bool:
    """Whether children run under a guardian here (Linux with cffi)."""
    return _guarded() is not None


@functools.cache
def _guarded() -> Callable[[], None] | None:
    """The subreaper preexec when a guardian can run here, else ``None`` (looked up
    once: every child asks)."""
    if not GUARDIAN.is_file() or not sys.executable:
        return None
    return subreaper_preexec()


def interrupted_outcome(state_dir: str | os.PathLike[str], task_id: str) -> tuple[ErrorCode, str]:
    """The code and message for a task that ran when its agent stopped, after
    making sure nothing of its process tree is left (by killing any survivor)."""
    left = guardians(task_label(state_dir, task_id))
    if left:
        count = 0
        for guardian in left:
            try:
                count += 1 + len(guardian.children(recursive=True))
            except psutil.Error:
                pass
            kill_tree(guardian.pid, guardian.pid)
        return ErrorCode.A007, (
            f"the agent stopped while the task ran; {count} of its processes outlived the agent "
            "and were killed when it restarted; not run again"
        )
    if not guardian_available():
        return ErrorCode.A007, ErrorCode.A007.meaning
    return ErrorCode.A020, (
        "the agent stopped while the task ran; every process the task started was killed with the "
        "agent by its guardian; not run again"
    )


def kill_tree(proc_pid: int, pgid: int | None, sig: int = signal.SIGKILL) -> None:
    """Kill a child's process group and every descendant still alive."""
    try:
        descendants = psutil.Process(proc_pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    if pgid is not None:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    for child in descendants:
        try:
            child.send_signal(sig)
        except psutil.Error:
            pass


async def run_process(
    argv: Sequence[str],
    *,
    input: bytes | None = None,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    max_output: int = DEFAULT_MAX_OUTPUT,
    on_output: OnOutput | None = None,
    nice: int = 0,
) -> ProcessResult:
    """Run ``argv`` to completion under the caller's cancel scope.

    Cancellation (timeout, job cancel) kills the whole process tree before the
    ``Cancelled`` propagates. A missing program or working directory raises
    :class:`ActionError` A009.
    """
    if cwd is not None and not await trio.Path(cwd).is_dir():
        raise ActionError(f"working directory {cwd!r} does not exist", code=ErrorCode.A009)

    guarded = _guarded() is not None
    started = time.monotonic()
    proc: trio.Process | ForkedChild | None = None
    if guarded and (server := guard_server()) is not None:
        proc = await server.spawn(argv, cwd=cwd, env=env, nice=nice, label=TASK_LABEL.get(), stdin_pipe=input is not None)
    status_r = -1
    if proc is None:
        proc, status_r = await _start_directly(argv, guarded, input=input, cwd=cwd, env=env, nice=nice)

    bufs = {1: bytearray(), 2: bytearray()}
    truncated = False

    async def pump(stream: trio.abc.ReceiveStream, fd: int) -> None:
        nonlocal truncated
        buf = bufs[fd]
        async for chunk in stream:
            if on_output is not None:
                await on_output(fd, bytes(chunk))
            room = max_output - len(buf)
            if room > 0:
                buf += chunk[:room]
            if len(chunk) > room:
                truncated = True

    pumps_done = trio.Event()
    pumping = 2

    async def pump_and_count(stream: trio.abc.ReceiveStream, fd: int) -> None:
        nonlocal pumping
        await pump(stream, fd)
        pumping -= 1
        if not pumping:
            pumps_done.set()

    try:
        await _check_started(proc, status_r, argv[0])
        async with trio.open_nursery() as nursery:
            assert proc.stdout is not None and proc.stderr is not None
            nursery.start_soon(pump_and_count, proc.stdout, 1)
            nursery.start_soon(pump_and_count, proc.stderr, 2)
            if input is not None:
                assert proc.stdin is not None
                try:
                    await proc.stdin.send_all(input)
                except trio.BrokenResourceError:
                    pass
                await proc.stdin.aclose()
            await proc.wait()
            # The child is gone; a daemonised grandchild may keep the pipes
            # open forever, so give the output a short grace and move on.
            with trio.move_on_after(2):
                await pumps_done.wait()
            nursery.cancel_scope.cancel()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                await pipe.aclose()
    except BaseException:
        with trio.CancelScope(shield=True):
            await end_tree(proc, guarded)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    await pipe.aclose()
        raise

    rc = proc.returncode
    assert rc is not None
    return ProcessResult(
        exit_code=rc if rc >= 0 else 128 - rc,
        stdout=bufs[1].decode("utf-8", "replace"),
        stderr=bufs[2].decode("utf-8", "replace"),
        truncated=truncated,
        duration=round(time.monotonic() - started, 6),
        signal=-rc if rc < 0 else 0,
    )


async def end_tree(proc: trio.Process | ForkedChild, guarded: bool) -> None:
    """End a child and everything it started, shielded from cancellation: its guardian
    first (the subreaper of every descendant, it kills them all), then whatever is
    still visible from here; a forked guardian's handles are closed either way."""
    with trio.CancelScope(shield=True):
        if proc.returncode is None:
            if guarded:
                proc.send_signal(signal.SIGTERM)
                with trio.move_on_after(GUARDIAN_GRACE):
                    await proc.wait()
            if proc.returncode is None:
                kill_tree(proc.pid, proc.pid)  # start_new_session: the child leads its own group
                with trio.move_on_after(5):
                    await proc.wait()
        if isinstance(proc, ForkedChild):
            proc.release()


async def _start_directly(
    argv: Sequence[str], guarded: bool, *, input: bytes | None, cwd: str | None, env: Mapping[str, str] | None, nice: int,
) -> tuple[trio.Process, int]:
    """Start ``argv`` under a guardian that is a new interpreter (or, unguarded, in
    its own session); returns the process and the read end of the guardian's status
    pipe (-1 unguarded)."""

    def preexec() -> None:
        os.nice(nice)

    command = list(argv)
    status_r = status_w = -1
    if guarded:
        status_r, status_w = os.pipe()
        command = [sys.executable, "-I", "-S", str(GUARDIAN), str(os.getpid()), str(status_w), TASK_LABEL.get(), "--", *command]
    try:
        proc = await trio.lowlevel.open_process(
            command,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            # Without a preexec_fn the child is started with vfork: a full fork of the
            # agent (page tables, copy-on-write faults) cost more than the guardian's
            # own prctl. The guardian makes itself the subreaper; here only for nice.
            preexec_fn=preexec if nice else None,
            pass_fds=(status_w,) if status_w >= 0 else (),
        )
    except OSError as exc:
        if status_r >= 0:
            os.close(status_r)
        if isinstance(exc, FileNotFoundError):
            raise ActionError(f"cannot run {argv[0]!r}: not found", code=ErrorCode.A009) from exc
        if isinstance(exc, PermissionError):
            raise ActionError(f"cannot run {argv[0]!r}: permission denied", code=ErrorCode.A009) from exc
        raise ActionError(f"cannot run {argv[0]!r}: {exc}", code=ErrorCode.A009) from exc
    finally:
        if status_w >= 0:
            os.close(status_w)
    return proc, status_r


async def _check_started(proc: trio.Process | ForkedChild, status_r: int, program: str) -> None:
    """Read the guardian's start report: nothing when the command was executed,
    ``"<errno> <message>"`` when it could not be; the latter raises A009. A forked
    guardian reports on its own pipe (:meth:`ForkedChild.started`); an unguarded child
    (``status_r`` < 0) has nothing to report."""
    if isinstance(proc, ForkedChild):
        await proc.started(program)
        return
    if status_r < 0:
        return
    report = bytearray()
    stream = trio.lowlevel.FdStream(status_r)
    try:
        while chunk := await stream.receive_some(4096):
            report += chunk
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()
    if not report:
        return
    await proc.wait()
    raise start_error(program, bytes(report))
