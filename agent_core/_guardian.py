"""The task guardian: one small process per child the agent starts, so that
nothing a task starts outlives the task or the agent.

A guardian comes to life one of two ways:

* **forked by the agent's guardian server** (the usual way): the runner starts,
  per agent process, ``python -I -S _guardian.py --serve AGENT_PID CTL_FD IDLE``
  (when it needs one; the server ends after IDLE seconds without a request),
  and for each child sends it, over a Unix socket, the command, its environment,
  working directory, niceness and task tag, with the child's stdin, stdout,
  stderr and a status pipe as passed descriptors (``SCM_RIGHTS``). The server
  forks; the fork becomes that child's guardian, and the server answers with its
  pid and a pidfd of it. A fork of this small process costs about a millisecond,
  where starting an interpreter costs tens (``docs/benchmarks.md``, "Task
  guardian"). The guardian names itself after its task (``stg-`` and a hash of
  the task label, its ``comm``), so an agent that restarts can find it.
* **started directly** as ``python -I -S _guardian.py AGENT_PID STATUS_FD LABEL --
  ARGV...`` (the terminal's PTY path, and any host where the server cannot run);
  LABEL is then read back from its command line.

Either way the guardian first makes itself a child subreaper
(``PR_SET_CHILD_SUBREAPER``, through ``_ctypes``): every process the command
starts, however it double-forks or ``setsid``\\ s away, stays a descendant of the
guardian instead of being reparented to PID 1. It then:

* starts ARGV (its stdio, cwd and environment) and reports on STATUS_FD an exec
  failure as ``"<errno> <message>"``; a forked guardian reports a start as
  ``+`` and, at the end, the command's wait status as ``=<status>``;
* when ARGV exits: kills what it left behind still attached to the task's
  output (a background job holding stdout or stderr would otherwise hold the
  result back, and belongs to the task), leaves alone what detached properly (a
  daemon started by an init script, its output redirected), and exits with
  ARGV's status (re-raising its signal);
* on SIGTERM (the task timed out or was cancelled): kills the whole tree;
* when the agent dies, even by SIGKILL (a pidfd of AGENT_PID turns readable;
  a changed parent pid is the fallback check of a directly started guardian):
  kills the whole tree.

Killing the tree is a loop over ``/proc`` (every descendant of the guardian
gets SIGKILL; orphans come to the guardian as subreaper and are reaped) until
nothing is left.
"""

# Only C modules, each paid on every child: ``_signal`` is what ``signal`` wraps
# (``signal`` imports ``enum`` and ``re``, which would double the start-up time), and
# ``posix`` what ``os`` wraps (``os`` adds ``posixpath``, ``stat`` and
# ``_collections_abc``: 2-3 ms of CPU per child).
import _ctypes
import _signal as signal
import _stat
import marshal
import posix as os
import select
import sys
import time

#: Upper bound on the kill loop; a tree that still forks after this is hopeless.
KILL_ROUNDS_SECONDS = 10.0
#: How long a descendant may still hold the task's output after the command exits before it
#: counts as attached: a daemon just forked by an init script (``cmd >/dev/null 2>&1 &``) holds
#: the pipes until its shell has applied the redirections.
DETACH_GRACE_SECONDS = 0.25


def _children_map() -> dict[int, list[tuple[int, bool]]]:
    """Parent pid -> [(pid, is_zombie)] for every process in /proc."""
    out: dict[int, list[tuple[int, bool]]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: parse after the last ")".
        fields = data[data.rindex(b")") + 2 :].split()
        out.setdefault(int(fields[1]), []).append((int(name), fields[0] == b"Z"))
    return out


def descendants(root: int) -> list[tuple[int, bool]]:
    """Every descendant of ``root`` as ``(pid, is_zombie)``, parents first."""
    tree = _children_map()
    found: list[tuple[int, bool]] = []
    todo = [root]
    while todo:
        for entry in tree.get(todo.pop(), []):
            found.append(entry)
            todo.append(entry[0])
    return found


def _reap(main_pid: int, status: list[int]) -> bool:
    """Reap every exited child; record the main child's status. False when none is left."""
    while True:
        try:
            pid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
        if pid == main_pid:
            status.append(st)


def kill_tree(main_pid: int, status: list[int]) -> None:
    """SIGKILL every descendant until none is alive and all are reaped."""
    me = os.getpid()
    end = time.monotonic() + KILL_ROUNDS_SECONDS
    # No child at all means no descendant either: an orphan is reparented to
    # us (the subreaper) before its parent's exit can be reaped.
    while _reap(main_pid, status) and time.monotonic() < end:
        for pid, zombie in descendants(me):
            if not zombie:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        time.sleep(0.01)


def _pipe_names(fds: tuple[int, ...]) -> set[str]:
    """``/proc/PID/fd`` link names of those of ``fds`` that are pipes."""
    names = set()
    for fd in fds:
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if _stat.S_ISFIFO(st.st_mode):
            names.add(f"pipe:[{st.st_ino}]")
    return names


def _holds(pid: int, names: set[str]) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in names:
                return True
        except OSError:
            continue
    return False


def kill_attached(main_pid: int, status: list[int], outputs: set[str]) -> None:
    """SIGKILL every live descendant that still holds one of the task's output
    pipes, until none does; detached descendants are left running.

    With no child left there is no descendant to look for (an orphan is
    reparented to us, the subreaper, before its parent's exit can be reaped), so
    the common case — a command that started nothing that outlives it — costs no
    walk over every process in ``/proc``."""
    me = os.getpid()
    grace = time.monotonic() + DETACH_GRACE_SECONDS
    end = grace + KILL_ROUNDS_SECONDS
    while outputs and time.monotonic() < end and _reap(main_pid, status):
        attached = [pid for pid, zombie in descendants(me) if not zombie and _holds(pid, outputs)]
        if not attached:
            return
        if time.monotonic() < grace:
            time.sleep(0.01)
            continue
        for pid in attached:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)
        _reap(main_pid, status)


PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36


class _CInt(_ctypes._SimpleCData):  # ctypes.c_int, without ctypes (20+ ms to import)
    _type_ = "i"


class _LibcCall(_ctypes.CFuncPtr):  # a C function of libc returning int, setting errno
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = _CInt


class _Process:  # what ``CFuncPtr((name, library))`` reads: the already loaded C library
    _handle = _ctypes.dlopen(None)  # type: ignore[arg-type]  # None: this process's own symbols (libc's among them)


_PRCTL = _LibcCall(("prctl", _Process()))  # type: ignore[arg-type]  # needs only ._handle


def _prctl(option: int, arg: int | bytes) -> int:
    """``prctl(option, arg)``: 0, or the errno (a bytes ``arg`` is passed as ``char *``)."""
    _ctypes.set_errno(0)
    if _PRCTL(option, arg, 0, 0, 0) == 0:
        return 0
    return _ctypes.get_errno() or 1


def become_subreaper() -> int:
    """``prctl(PR_SET_CHILD_SUBREAPER, 1)``: orphans of the tree come to us, not to
    PID 1. Returns 0, or the errno. Done here rather than between the agent's
    fork and exec, so the agent can start a guardian with ``vfork`` (a full fork
    of the agent costs it more than this import); the flag is not inherited by a
    fork, so every forked guardian sets it too."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def _exit_like(st: int) -> None:
    if os.WIFSIGNALED(st):
        sig = os.WTERMSIG(st)
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the guardian must not dump core
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        except (OSError, ValueError):
            pass
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(st) if os.WIFEXITED(st) else 1)


def _wake_pipe() -> int:
    """A pipe that signals write into (``set_wakeup_fd``); returns its read end."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    return wake_r


def _tell(status_fd: int, report: bytes) -> None:
    """Write to the agent's status pipe; an agent that stopped reading is no error."""
    try:
        os.write(status_fd, report)
    except OSError:
        pass


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def guard(command: list[bytes] | list[str], env: dict, status_fd: int, agent_pid: int, agent_fd: int, forked: bool) -> None:
    """Run ``command`` as the guardian of its tree; never returns.

    ``agent_fd`` is a pidfd of the agent (-1 where there is none: then a changed
    parent pid says the agent died, which only a directly started guardian can
    use). A ``forked`` guardian keeps ``status_fd`` open to report the command's
    wait status at the end, as the agent is not its parent."""
    wake_r = _wake_pipe()
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    if not forked and os.getppid() != agent_pid:
        os._exit(137)  # the agent died before we could watch it: start nothing
    os.set_inheritable(status_fd, False)
    failed = become_subreaper()
    if failed:
        _tell(status_fd, f"{failed} the guardian could not become a child subreaper".encode())
        os._exit(127)
    try:
        # posix_spawn reports a failed exec as OSError; restore the signals
        # Python ignores, as subprocess would.
        child = os.posix_spawnp(command[0], command, env, setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
    except OSError as exc:
        _tell(status_fd, f"{exc.errno or 0} {exc.strerror or exc}".encode())
        os._exit(127)
    if forked:
        _tell(status_fd, b"+")
    else:
        os.close(status_fd)
    outputs = _pipe_names((1, 2))
    # Hand the pipes to the command alone, so the agent sees EOF as soon as the
    # tree is gone, whatever the guardian does next.
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    status: list[int] = []
    watched = [wake_r] + ([agent_fd] if agent_fd >= 0 else [])
    while True:
        ready, _, _ = select.select(watched, [], [], 1.0)
        _drain(wake_r)
        _reap(child, status)
        if agent_fd in ready or (agent_fd < 0 and os.getppid() != agent_pid) or stopping:
            kill_tree(child, status)
            os._exit(137)
        if status:
            kill_attached(child, status, outputs)
            _reap(child, status)
            if forked:
                _tell(status_fd, b"=%d" % status[0])
            _exit_like(status[0])


def main(argv: list[str]) -> None:
    """A guardian started directly: ``AGENT_PID STATUS_FD LABEL -- ARGV...``."""
    agent_pid, status_fd = int(argv[1]), int(argv[2])
    command = argv[5:] if argv[4] == "--" else []
    if not command:
        os.write(status_fd, b"22 no command given to the guardian")
        os._exit(2)
    try:
        agent_fd = os.pidfd_open(agent_pid)
    except (AttributeError, OSError):
        agent_fd = -1  # Linux < 5.3: the parent-pid check is the fallback
    guard(command, os.environ, status_fd, agent_pid, agent_fd, forked=False)


# The guardian server. A request on the control socket is a 4-byte little-endian
# length, then that many bytes of ``marshal``-ed ``(argv, env, cwd, nice, name,
# terminal)`` (bytes but ``nice`` and ``terminal``, a bool: stdin is a PTY to make the
# session's controlling terminal), with four descriptors passed along: the child's
# stdin, stdout, stderr and the status pipe's write end. The answer is 8 bytes: the
# guardian's pid and 0, with a pidfd of it passed along; or 0 and the fork's errno.
# The fork itself answers, before it starts the command: an agent that got no
# answer (the server died) knows that nothing was started and may ask again.


def _fds_of(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    fds: list[int] = []
    for _level, _kind, data in ancdata:
        fds += [int.from_bytes(data[i : i + 4], sys.byteorder) for i in range(0, len(data) - len(data) % 4, 4)]
    return fds


def _receive(ctl) -> tuple[bytes, list[int]] | None:  # type: ignore[no-untyped-def]
    """One request, or None when the agent closed the socket (or sent garbage)."""
    import _socket

    data, ancdata, _flags, _addr = ctl.recvmsg(1 << 16, _socket.CMSG_SPACE(4 * 4), _socket.MSG_CMSG_CLOEXEC)
    fds = _fds_of(ancdata)
    buf = bytearray(data)
    while data and (len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[:4], "little")):
        data = ctl.recv(1 << 16)
        buf += data
    if len(buf) < 4 or len(buf) != 4 + int.from_bytes(buf[:4], "little") or len(fds) != 4:
        for fd in fds:
            os.close(fd)
        return None
    return bytes(buf[4:]), fds


def _become_guardian(ctl, request: bytes, fds: list[int], agent_pid: int, agent_fd: int) -> None:  # type: ignore[no-untyped-def]
    """In the fork: answer the agent, take the child's descriptors, session,
    directory and name, then guard. Never returns."""
    import _socket

    me = os.getpid()
    pidfd = os.pidfd_open(me)
    try:
        ctl.sendmsg([me.to_bytes(4, "little") + b"\0\0\0\0"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, pidfd.to_bytes(4, sys.byteorder))])
    except OSError:
        os._exit(127)  # the agent is gone or gave up on us: start nothing
    os.close(pidfd)
    ctl.close()
    status_fd = fds[3]
    try:
        argv, env, cwd, nice, name, terminal = marshal.loads(request)
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        for fd in fds[:3]:
            os.close(fd)
        os.setsid()
        if terminal:
            import fcntl
            import termios

            fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # the PTY becomes this session's terminal
        if cwd:
            os.chdir(cwd)
        if nice:
            os.nice(nice)
        # posix_spawnp looks the program up in this process's PATH: make it the child's.
        if b"PATH" in env:
            os.putenv(b"PATH", env[b"PATH"])
        else:
            os.unsetenv(b"PATH")
        if name:
            _prctl(PR_SET_NAME, name)
    except (OSError, ValueError, EOFError, TypeError) as exc:
        _tell(status_fd, f"{getattr(exc, 'errno', 0) or 0} {getattr(exc, 'strerror', '') or exc}".encode())
        os._exit(127)
    guard(argv, env, status_fd, agent_pid, agent_fd, forked=True)


def serve(agent_pid: int, ctl_fd: int, idle: float) -> None:
    """The guardian server: fork a guardian per request until the agent goes away,
    or until ``idle`` seconds pass without a request (the agent starts another when
    it needs one: an agent that runs nothing holds no server)."""
    import _socket

    agent_fd = os.pidfd_open(agent_pid)
    if os.getppid() != agent_pid:
        os._exit(0)
    import fcntl  # noqa: F401 - loaded once here, for the forks that start a terminal
    import termios  # noqa: F401

    ctl = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, ctl_fd)
    wake_r = _wake_pipe()
    signal.signal(signal.SIGCHLD, lambda *_: None)
    no_child: list[int] = []
    while True:
        ready, _, _ = select.select([ctl_fd, wake_r, agent_fd], [], [], idle)
        _drain(wake_r)
        _reap(0, no_child)  # guardians that ended (each sent its status to the agent)
        if agent_fd in ready or not ready:
            os._exit(0)  # agent gone (each guardian watches it and kills its own tree), or idle
        if ctl_fd not in ready:
            continue
        got = _receive(ctl)
        if got is None:
            os._exit(0)  # the agent closed the socket: it is stopping
        request, fds = got
        try:
            pid = os.fork()
        except OSError as exc:
            ctl.sendall(b"\0\0\0\0" + (exc.errno or 0).to_bytes(4, "little"))
        else:
            if pid == 0:
                os.close(wake_r)
                _become_guardian(ctl, request, fds, agent_pid, agent_fd)
        for fd in fds:
            os.close(fd)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    else:
        main(sys.argv)
