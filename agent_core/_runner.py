"""The task runner: child processes under the agent's control.

Each child gets its own session and process group; when its time runs out or
its task is cancelled, the whole tree is killed (process group first, then any
descendant that escaped into another group). Output is capped per stream and
can be streamed to the caller while it runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import msgspec
import psutil
import trio

from transports import ErrorCode

from ._sdk import ActionError

DEFAULT_MAX_OUTPUT = 1024 * 1024

OnOutput = Callable[[int, bytes], Awaitable[None]]


class ProcessResult(msgspec.Struct, omit_defaults=True):
    """What a finished child process left behind."""

    exit_code: int
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    duration: float = 0.0
    signal: int = 0


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

    def preexec() -> None:
        if nice:
            os.nice(nice)

    started = time.monotonic()
    try:
        proc = await trio.lowlevel.open_process(
            list(argv),
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            preexec_fn=preexec if nice else None,
        )
    except FileNotFoundError as exc:
        raise ActionError(f"cannot run {argv[0]!r}: not found", code=ErrorCode.A009) from exc
    except PermissionError as exc:
        raise ActionError(f"cannot run {argv[0]!r}: permission denied", code=ErrorCode.A009) from exc
    except OSError as exc:
        raise ActionError(f"cannot run {argv[0]!r}: {exc}", code=ErrorCode.A009) from exc

    pgid = proc.pid  # start_new_session: the child leads its own group
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
    except BaseException:
        with trio.CancelScope(shield=True):
            kill_tree(proc.pid, pgid)
            with trio.move_on_after(5):
                await proc.wait()
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
