"""A child process on a pseudo-terminal, owned like every other task's child.

:func:`open_pty` starts ARGV with a new PTY as its stdin, stdout, stderr and
controlling terminal, under the task guardian (:mod:`agent_core._guardian`)
when it can run: the guardian leads the PTY's session (``setsid`` +
``TIOCSCTTY``: in the fork the agent's guardian server makes for it, or between
fork and exec of a guardian started on its own) and is the subreaper of
everything the shell starts, so the whole tree dies when the task is cancelled,
times out or the agent dies. When the shell exits by itself, what is left in its session
(background jobs still holding the terminal) is killed too.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import sys
import termios
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from transports import ErrorCode

from ._guardserver import ForkedChild, guard_server
from ._runner import GUARDIAN, TASK_LABEL, _check_started, _guarded, end_tree
from ._sdk import ActionError


def set_window(fd: int, cols: int, rows: int) -> None:
    """Set the terminal's size (``TIOCSWINSZ``); the foreground job gets SIGWINCH."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def window(fd: int) -> tuple[int, int]:
    """The terminal's ``(cols, rows)``."""
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    return cols, rows


@dataclass
class PtyProcess:
    """A running child on a PTY: ``stream`` reads its output and writes its input."""

    proc: trio.Process | ForkedChild
    stream: trio.lowlevel.FdStream
    master: int

    def resize(self, cols: int, rows: int) -> None:
        set_window(self.master, cols, rows)

    @property
    def pid(self) -> int:
        return self.proc.pid


def _kill_session(sid: int) -> None:
    """SIGKILL every process still in session ``sid`` (what the shell left on its terminal)."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            if os.getsid(pid) == sid:
                os.kill(pid, signal.SIGKILL)
        except OSError:
            continue


@asynccontextmanager
async def open_pty(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: str | None = None, cols: int = 80, rows: int = 24,
) -> AsyncIterator[PtyProcess]:
    """Start ``argv`` on a new PTY; on leaving, its whole tree is gone.

    A missing program raises :class:`ActionError` A009.
    """
    master, slave = os.openpty()
    set_window(master, cols, rows)
    guarded = _guarded() is not None
    tiocsctty = termios.TIOCSCTTY
    proc: trio.Process | ForkedChild | None = None
    if guarded and (server := guard_server()) is not None:
        try:
            proc = await server.spawn(argv, cwd=cwd, env=env, nice=0, label=TASK_LABEL.get(), terminal=slave)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
    if proc is not None:
        os.close(slave)
        async with _owned(proc, master, argv[0], guarded=True) as pty:
            yield pty
        return

    def preexec() -> None:  # the guardian makes itself the subreaper; here only the terminal
        fcntl.ioctl(0, tiocsctty, 0)  # after setsid: the PTY becomes the session's terminal

    command = list(argv)
    status_r = status_w = -1
    if guarded:
        status_r, status_w = os.pipe()
        command = [sys.executable, "-I", "-S", str(GUARDIAN), str(os.getpid()), str(status_w), TASK_LABEL.get(), "--", *command]
    try:
        proc = await trio.lowlevel.open_process(
            command, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=dict(env),
            start_new_session=True, preexec_fn=preexec, pass_fds=(status_w,) if status_w >= 0 else (),
        )
    except OSError as exc:
        os.close(master)
        if status_r >= 0:
            os.close(status_r)
        raise ActionError(f"cannot start {argv[0]!r} on a terminal: {exc}", code=ErrorCode.A009) from exc
    finally:
        os.close(slave)
        if status_w >= 0:
            os.close(status_w)
    async with _owned(proc, master, argv[0], guarded=guarded, status_r=status_r) as pty:
        yield pty


@asynccontextmanager
async def _owned(
    proc: trio.Process | ForkedChild, master: int, program: str, *, guarded: bool, status_r: int = -1,
) -> AsyncIterator[PtyProcess]:
    """The started child as a :class:`PtyProcess`; on leaving, its whole tree is gone."""
    stream = trio.lowlevel.FdStream(master)
    pty = PtyProcess(proc=proc, stream=stream, master=master)
    try:
        await _check_started(proc, status_r, program)
        yield pty
    finally:
        with trio.CancelScope(shield=True):
            await end_tree(proc, guarded)
            _kill_session(proc.pid)
            await stream.aclose()
