"""The agent's side of the guardian server: a guardian per child for the price of a fork.

Every child the agent starts runs under a task guardian (:mod:`agent_core._guardian`).
Started as a new interpreter, a guardian costs tens of milliseconds of CPU per child;
forked from a small process that already runs, about one. So each agent process starts,
on its first child, one *guardian server* (``python -I -S _guardian.py --serve``, stdlib
only, ~9 MB; it ends after :data:`IDLE_SECONDS` without a request, and the next child
starts another) and asks it for a guardian per child over a Unix socket, passing the
child's pipes along. The fork answers with its pid and a pidfd of it (the agent is not
its parent: it signals it through the pidfd, which cannot hit a recycled pid), and
reports the command's start and, at the end, its wait status on a status pipe.

The fork answers before it starts anything, so a request that got no answer (the server
died, or hung for :data:`REQUEST_TIMEOUT`) started nothing and is asked again of a new
server; a host where no server can run (no pidfd: Linux before 5.3), or whose servers
failed :data:`MAX_FAILURES` times in a row (for :data:`COOLDOWN_SECONDS`), gets directly
started guardians instead (:func:`agent_core._runner.run_process` falls back).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import logging
import marshal
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import trio

from transports import ErrorCode

from ._sdk import ActionError

log = logging.getLogger("starling.agent")

GUARDIAN = Path(__file__).with_name("_guardian.py")
#: Seconds a request may take before the server counts as hung (and is replaced).
REQUEST_TIMEOUT = 10.0
#: Servers that may fail in a row before this agent process stops using one for a while.
MAX_FAILURES = 3
#: Seconds an agent starts guardians directly after :data:`MAX_FAILURES` failures, before
#: it tries a server again.
COOLDOWN_SECONDS = 60.0
#: Seconds without a request after which the server ends (the next child starts another).
IDLE_SECONDS = 300.0


def guardian_name(label: str) -> bytes:
    """The process name (``comm``, at most 15 bytes) of a forked guardian of the task
    ``label``: what a restarted agent looks for (:func:`agent_core._runner.guardians`)."""
    return b"stg-" + hashlib.sha1(label.encode()).hexdigest()[:10].encode()


def start_error(program: str, report: bytes) -> ActionError:
    """A guardian's ``"<errno> <message>"`` start report as the A009 it means."""
    number, _, message = report.decode("utf-8", "replace").partition(" ")
    if number == str(errno.ENOENT):
        return ActionError(f"cannot run {program!r}: not found", code=ErrorCode.A009)
    if number in (str(errno.EACCES), str(errno.EPERM)):
        return ActionError(f"cannot run {program!r}: permission denied", code=ErrorCode.A009)
    return ActionError(f"cannot run {program!r}: {message}", code=ErrorCode.A009)


class ForkedChild:
    """A child under a forked guardian, with the parts of :class:`trio.Process` the
    runner uses: ``pid``, the pipes, :meth:`wait`, ``returncode`` and :meth:`send_signal`."""

    def __init__(self, pid: int, pidfd: int, status_r: int, stdin: int, stdout: int, stderr: int) -> None:
        self.pid = pid
        self._pidfd = pidfd
        self._status = trio.lowlevel.FdStream(status_r)
        self._report = bytearray()
        self.returncode: int | None = None
        self.stdin = trio.lowlevel.FdStream(stdin) if stdin >= 0 else None
        self.stdout = trio.lowlevel.FdStream(stdout) if stdout >= 0 else None
        self.stderr = trio.lowlevel.FdStream(stderr) if stderr >= 0 else None

    async def started(self, program: str) -> None:
        """Wait for the guardian's start report; an exec failure raises A009."""
        while not self._report:
            chunk = await self._status.receive_some(4096)
            if not chunk:
                break
            self._report += chunk
        if self._report[:1] == b"+":
            return
        report = bytes(self._report)
        await self.wait()
        raise start_error(program, report) if report else ActionError(
            f"cannot run {program!r}: its guardian ended before starting it", code=ErrorCode.A009)

    async def wait(self) -> int:
        """Until the guardian is gone; its report's wait status as a return code
        (negative: the signal). A guardian that ended without one was killed."""
        if self.returncode is not None:
            return self.returncode
        while chunk := await self._status.receive_some(4096):
            self._report += chunk
        # The pipe closes as the guardian exits, a moment before it has exited: its
        # pidfd turns readable then (its tree was gone before it began to exit).
        await trio.lowlevel.wait_readable(self._pidfd)
        _, mark, st = self._report.partition(b"=")
        if mark and st.isdigit():
            code = os.waitstatus_to_exitcode(int(st))
        else:
            code = 127 if self._report[:1] not in (b"+", b"") else -signal.SIGKILL
        self.returncode = code
        await self._status.aclose()
        try:  # a guardian whose server died was reparented to the agent (a subreaper): reap it
            os.waitid(os.P_PIDFD, self._pidfd, os.WEXITED | os.WNOHANG)  # noqa: ASYNC222 - WNOHANG: never blocks
        except OSError:
            pass
        os.close(self._pidfd)
        self._pidfd = -1
        return code

    def release(self) -> None:
        """Close what :meth:`wait` would have closed, for a guardian given up on (it
        did not end even after its tree was killed)."""
        if self.returncode is None:
            self._status.close()
            if self._pidfd >= 0:
                os.close(self._pidfd)
                self._pidfd = -1

    def send_signal(self, sig: int) -> None:
        if self._pidfd < 0:
            return
        try:
            signal.pidfd_send_signal(self._pidfd, sig)
        except ProcessLookupError:
            pass


class GuardServer:
    """This agent process's guardian server (started on first use, replaced when it dies)."""

    def __init__(self) -> None:
        self._owner = os.getpid()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: trio.socket.SocketType | None = None
        self._raw: socket.socket | None = None  # the stdlib socket under ``_sock``
        self._locks: trio.lowlevel.RunVar[trio.Lock] = trio.lowlevel.RunVar("guard_server_lock")
        self.failures = 0
        self._cooldown_until = 0.0

    @property
    def usable(self) -> bool:
        if self._owner != os.getpid():
            return False
        if self.failures >= MAX_FAILURES:
            if time.monotonic() < self._cooldown_until:
                return False
            self.failures = 0  # the cooldown is over: try a server again
        return True

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self.failures >= MAX_FAILURES:
            self._cooldown_until = time.monotonic() + COOLDOWN_SECONDS
            log.warning("guardian server failed (%s), %d times in a row; starting guardians directly for %g s",
                        str(exc) or type(exc).__name__, self.failures, COOLDOWN_SECONDS)
        else:
            log.warning("guardian server failed (%s); starting another", str(exc) or type(exc).__name__)

    def _lock(self) -> trio.Lock:
        try:
            return self._locks.get()
        except LookupError:
            lock = trio.Lock()
            self._locks.set(lock)
            return lock

    def _start(self) -> trio.socket.SocketType:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(GUARDIAN), "--serve", str(os.getpid()), str(theirs.fileno()), str(IDLE_SECONDS)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, pass_fds=(theirs.fileno(),), start_new_session=True,
            )
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        self._raw = ours
        self._sock = trio.socket.from_stdlib_socket(ours)
        return self._sock

    def _late_answer(self) -> tuple[int, int] | None:
        """After a request timed out: close our side to answers, so a fork that has not
        answered yet never will (its answer fails, and it starts nothing), then take an
        answer that came in the meantime — that fork runs its command, and is ours."""
        if self._sock is None or self._raw is None:
            return None
        try:
            self._raw.shutdown(socket.SHUT_RD)
            data, ancdata, _flags, _addr = self._raw.recvmsg(8, socket.CMSG_SPACE(4), socket.MSG_CMSG_CLOEXEC)
        except OSError:  # nothing came (BlockingIOError), or the socket is gone
            return None
        fds = [int.from_bytes(raw[:4], sys.byteorder) for _level, _kind, raw in ancdata]
        pid = int.from_bytes(data[:4], "little") if len(data) == 8 else 0
        if pid and fds:
            return pid, fds[0]
        for fd in fds:
            os.close(fd)
        return None

    async def _ended_idle(self) -> bool:
        """Whether the server exited by itself with status 0 (its idle time ran out just
        as a request came), as opposed to crashing, being killed or hanging."""
        if self._proc is None:
            return False
        with trio.move_on_after(0.2):
            while self._proc.poll() is None:  # noqa: ASYNC110 - a Popen has no event to wait on; 20 polls at most
                await trio.sleep(0.01)
        return self._proc.returncode == 0

    def close(self) -> None:
        """Stop the server (its guardians live on: each watches the agent itself)."""
        if self._sock is not None:
            try:
                self._sock.close()
            except RuntimeError:  # outside a trio run (nothing can be waiting on it there)
                assert self._raw is not None
                self._raw.close()
            self._sock = self._raw = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
                try:
                    self._proc.wait(1)
                except subprocess.TimeoutExpired:
                    pass
            self._proc = None

    async def _exchange(self, payload: bytes, fds: list[int]) -> tuple[int, int]:
        """One request and its answer: ``(pid, pidfd)``. OSError when there is no answer."""
        if self._proc is not None and self._proc.poll() is not None:
            self.close()  # it ended after IDLE_SECONDS without a request: no failure
        sock = self._sock or self._start()
        message = len(payload).to_bytes(4, "little") + payload
        sent = await sock.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, b"".join(fd.to_bytes(4, sys.byteorder) for fd in fds))])
        while sent < len(message):
            sent += await sock.send(message[sent:])
        answer = bytearray()
        pidfd = -1
        while len(answer) < 8:
            data, ancdata, _flags, _addr = await sock.recvmsg(8 - len(answer), socket.CMSG_SPACE(4), socket.MSG_CMSG_CLOEXEC)
            for _level, _kind, raw in ancdata:
                pidfd = int.from_bytes(raw[:4], sys.byteorder)
            if not data:
                raise ConnectionResetError(errno.ECONNRESET, "the guardian server closed its socket")
            answer += data
        pid, err = int.from_bytes(answer[:4], "little"), int.from_bytes(answer[4:], "little")
        if not pid:
            raise OSError(err, f"the guardian server could not fork: {os.strerror(err)}")
        if pidfd < 0:
            raise OSError(errno.EPROTO, "the guardian server answered without a pidfd")
        return pid, pidfd

    async def spawn(
        self, argv: Sequence[str], *, cwd: str | None, env: Mapping[str, str] | None, nice: int, label: str,
        stdin_pipe: bool = False, terminal: int = -1,
    ) -> ForkedChild | None:
        """Start ``argv`` under a forked guardian; ``None`` when no server can be had
        (the caller starts a guardian itself). An exec failure shows in
        :meth:`ForkedChild.started`.

        The child's stdout and stderr are new pipes, and its stdin one too with
        ``stdin_pipe`` (else ``/dev/null``); or all three are ``terminal``, a PTY's
        slave (the caller's to close), which becomes the session's controlling terminal."""
        environ = dict(os.environb) if env is None else {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
        request = ([os.fsencode(a) for a in argv], environ, os.fsencode(cwd) if cwd else b"", nice,
                   guardian_name(label), terminal >= 0)
        payload = marshal.dumps(request)
        status_r, status_w = os.pipe()
        if terminal >= 0:
            theirs, ours = [terminal] * 3, [-1, -1, -1]
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            in_r, in_w = os.pipe() if stdin_pipe else (os.open(os.devnull, os.O_RDONLY), -1)
            theirs, ours = [in_r, out_w, err_w], [in_w, out_r, err_r]
        got: tuple[int, int] | None = None
        try:
            async with self._lock():
                # Shielded: a request cut in half would leave the socket out of step.
                with trio.CancelScope(shield=True):
                    while got is None and self.usable:
                        try:
                            with trio.fail_after(REQUEST_TIMEOUT):
                                got = await self._exchange(payload, [*theirs, status_w])
                        except (OSError, trio.TooSlowError) as exc:
                            # No answer: nothing was started (the fork answers first) —
                            # unless it answered just as the time ran out.
                            if isinstance(exc, trio.TooSlowError) and (got := self._late_answer()) is not None:
                                self.close()  # the hung server; its fork is ours
                                break
                            if await self._ended_idle():
                                log.debug("guardian server ended idle as it was asked; starting another")
                            else:
                                self._failed(exc)
                            self.close()
                    if got is not None:
                        self.failures = 0
        finally:
            for fd in [*(theirs if terminal < 0 else []), status_w]:
                os.close(fd)
            if got is None:
                for fd in [*ours, status_r]:
                    if fd >= 0:
                        os.close(fd)
        if got is None:
            return None
        # No checkpoint from here to the caller's cleanup (``end_tree``): a cancel that came
        # during the shielded exchange is raised there, and ends this child with the rest.
        return ForkedChild(got[0], got[1], status_r, *ours)


_server: GuardServer | None = None
#: Whether children get forked guardians; off, each guardian is a new interpreter (for
#: the benchmark's comparison and the tests of the direct path).
ENABLED = True


@functools.cache
def _pidfds_work() -> bool:
    """Whether this kernel has pidfds (Linux 5.3+), which the server's guardians need."""
    if not hasattr(os, "pidfd_open") or not hasattr(signal, "pidfd_send_signal"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return GUARDIAN.is_file() and bool(sys.executable)


def guard_server() -> GuardServer | None:
    """This process's guardian server, or ``None`` where none can run (no pidfd), or
    for :data:`COOLDOWN_SECONDS` after it failed :data:`MAX_FAILURES` times in a row."""
    global _server
    if not ENABLED or not _pidfds_work():
        return None
    if _server is None or _server._owner != os.getpid():
        _server = GuardServer()
    return _server if _server.usable else None
