"""The task guardian: one small process per child the agent starts, so that
nothing a task starts outlives the task or the agent.

The runner starts it as ``python -I -S _guardian.py AGENT_PID STATUS_FD LABEL --
ARGV...`` (stdlib only, no site-packages, and only C modules imported, so it
starts in about the time of a bare interpreter). The guardian first makes
itself a child subreaper (``PR_SET_CHILD_SUBREAPER``, through ``_ctypes``): every
process the command starts, however it double-forks or ``setsid``\\ s away,
stays a descendant of the guardian instead of being reparented to PID 1. It then:

* starts ARGV (same stdio, cwd and environment) and reports on STATUS_FD an
  exec failure as ``"<errno> <message>"``, or nothing when the exec succeeded;
* when ARGV exits: kills what it left behind still attached to the task's
  output (a background job holding stdout or stderr would otherwise hold the
  result back, and belongs to the task), leaves alone what detached properly (a
  daemon started by an init script, its output redirected), and exits with
  ARGV's status (re-raising its signal);
* on SIGTERM (the task timed out or was cancelled): kills the whole tree;
* when the agent dies, even by SIGKILL (a pidfd of AGENT_PID turns readable;
  a changed parent pid is the fallback check): kills the whole tree.

Killing the tree is a loop over ``/proc`` (every descendant of the guardian
gets SIGKILL; orphans come to the guardian as subreaper and are reaped) until
nothing is left. LABEL is only there to be read back from ``/proc`` by an agent
that restarts and looks for guardians its predecessor left.
"""

# Only C modules, each paid on every child: ``_signal`` is what ``signal`` wraps
# (``signal`` imports ``enum`` and ``re``, which would double the start-up time), and
# ``posix`` what ``os`` wraps (``os`` adds ``posixpath``, ``stat`` and
# ``_collections_abc``: 2-3 ms of CPU per child).
import _ctypes
import _signal as signal
import _stat
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


PR_SET_CHILD_SUBREAPER = 36


class _CInt(_ctypes._SimpleCData):  # ctypes.c_int, without ctypes (20+ ms to import)
    _type_ = "i"


class _LibcCall(_ctypes.CFuncPtr):  # a C function of libc returning int, setting errno
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = _CInt


class _Process:  # what ``CFuncPtr((name, library))`` reads: the already loaded C library
    _handle = _ctypes.dlopen(None)  # type: ignore[arg-type]  # None: this process's own symbols (libc's among them)


def become_subreaper() -> int:
    """``prctl(PR_SET_CHILD_SUBREAPER, 1)``: orphans of the tree come to us, not to
    PID 1. Returns 0, or the errno. Done here rather than between the agent's
    fork and exec, so the agent can start the guardian with ``vfork`` (a full
    fork of the agent costs it more than this import)."""
    prctl = _LibcCall(("prctl", _Process()))  # type: ignore[arg-type]  # needs only ._handle
    _ctypes.set_errno(0)
    if prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0:
        return 0
    return _ctypes.get_errno() or 1


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


def main(argv: list[str]) -> None:
    agent_pid, status_fd = int(argv[1]), int(argv[2])
    command = argv[5:] if argv[4] == "--" else []
    if not command:
        os.write(status_fd, b"22 no command given to the guardian")
        os._exit(2)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    try:
        agent_fd = os.pidfd_open(agent_pid)
    except (AttributeError, OSError):
        agent_fd = -1  # Linux < 5.3: the parent-pid check below is the fallback
    if os.getppid() != agent_pid:
        os._exit(137)  # the agent died before we could watch it: start nothing
    os.set_inheritable(status_fd, False)
    failed = become_subreaper()
    if failed:
        os.write(status_fd, f"{failed} the guardian could not become a child subreaper".encode())
        os._exit(127)
    try:
        # posix_spawn reports a failed exec as OSError; restore the signals
        # Python ignores, as subprocess would.
        child = os.posix_spawnp(command[0], command, os.environ, setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
    except OSError as exc:
        os.write(status_fd, f"{exc.errno or 0} {exc.strerror or exc}".encode())
        os._exit(127)
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
        try:
            while os.read(wake_r, 512):
                pass
        except BlockingIOError:
            pass
        _reap(child, status)
        if agent_fd in ready or os.getppid() != agent_pid or stopping:
            kill_tree(child, status)
            os._exit(137)
        if status:
            kill_attached(child, status, outputs)
            _reap(child, status)
            _exit_like(status[0])


if __name__ == "__main__":
    main(sys.argv)
