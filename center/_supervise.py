"""Supervision of what ``starling up`` started: signals, restarts, ``starling restart``.

The foreground ``starling up`` is the parent of every role it starts. It must
stop them on SIGTERM and SIGHUP exactly as on Ctrl-C (a service manager or a
closed terminal sends those, and children in their own sessions would
otherwise live on as orphans), and it restarts a role that crashes, with a
budget so that a role that cannot start does not spin: more than
:data:`MAX_RESTARTS` crashes within :data:`RESTART_WINDOW` seconds stops the
whole instance (a core role) or gives up on that agent.

A detached instance has no supervisor; ``starling restart ROLE`` restarts one
role of it (or asks the foreground supervisor to, by stopping the role).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console

from transports import ErrorCode, StarlingError, write_private

console = Console(stderr=True)

#: Crashes of one role within :data:`RESTART_WINDOW` seconds before giving up.
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
#: Signals that stop a foreground ``starling up`` (Ctrl-C arrives as KeyboardInterrupt).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(BaseException):
    """A stop signal arrived; unwinds ``starling up`` like Ctrl-C does.

    A BaseException (as KeyboardInterrupt) so that no ``except Exception``
    on the way swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated`."""
    previous = {sig: signal.signal(sig, _raise_terminated) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start one role in its own session, output appended to ``log``."""
    with open(log, "ab") as fh:
        return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


@dataclass
class Member:
    """One supervised process: a role (center, proxy-N) or an agent."""

    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes]
    core: bool
    crashes: deque[float] = field(default_factory=deque)
    given_up: bool = False


def _replace_pid(profile: dict[str, Any], name: str, old: int, new: int) -> None:
    profile["pids"] = [new if p == old else p for p in profile.get("pids", [])]
    for entry in [*profile.get("roles", []), *profile.get("agents", [])]:
        if entry.get("pid") == old:
            entry["pid"] = new


def supervise(members: list[Member], profile: dict[str, Any], save: Callable[[], None], *, poll: float = 0.5) -> str:
    """Watch the members until a stop signal (raised as :class:`Terminated` or
    KeyboardInterrupt, which propagate) or a core role that keeps crashing;
    restart whatever exits. Returns why it stopped."""
    profile["supervisor"] = os.getpid()
    save()
    while True:
        for m in members:
            if m.given_up or m.proc.poll() is None:
                continue
            now = time.monotonic()
            m.crashes.append(now)
            while m.crashes and now - m.crashes[0] > RESTART_WINDOW:
                m.crashes.popleft()
            if len(m.crashes) > MAX_RESTARTS:
                if m.core:
                    return f"{m.name} exited {len(m.crashes)} times within {RESTART_WINDOW:.0f}s (last code {m.proc.returncode}); log {m.log}"
                m.given_up = True
                console.print(f"[red]{m.name} keeps exiting (last code {m.proc.returncode}); not restarting it. Log: {m.log}[/red]")
                continue
            old = m.proc.pid
            console.print(f"[yellow]{m.name} (pid {old}) exited with {m.proc.returncode}; restarting[/yellow]")
            m.proc = spawn(m.argv, m.log)
            _replace_pid(profile, m.name, old, m.proc.pid)
            save()
        time.sleep(poll)


def _find(profile: dict[str, Any], name: str) -> dict[str, Any]:
    for entry in profile.get("roles", []):
        if entry.get("name") == name:
            return entry
    for entry in profile.get("agents", []):
        if name in (entry.get("hostname"), Path(entry.get("dir", "")).name):
            return entry
    names = [e["name"] for e in profile.get("roles", [])] + [Path(e["dir"]).name for e in profile.get("agents", [])][:3]
    raise StarlingError(f"no role {name!r} here; roles: {', '.join(names)}…", code=ErrorCode.C001)


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _stop(pid: int, marker: str) -> None:
    """SIGTERM, then SIGKILL after 10 s, a PID that still runs our command line."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            if marker.encode() not in fh.read():
                return  # not ours any more (recycled PID)
    except OSError:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + 10
    while time.monotonic() < end and _pid_alive(pid):
        time.sleep(0.1)
    if _pid_alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def restart(state: Path, name: str) -> dict[str, Any]:
    """Restart one role (``center``, ``proxy-N``) or agent (``a001`` or its
    hostname) of the instance in ``state``; returns its old and new PID."""
    profile_path = state / "up.json"
    if not profile_path.exists():
        raise StarlingError(f"nothing is running from {state}", code=ErrorCode.C001)
    profile = json.loads(profile_path.read_text())
    entry = _find(profile, name)
    old = int(entry["pid"])
    supervisor = profile.get("supervisor")
    if supervisor and _pid_alive(int(supervisor)):
        # The foreground supervisor restarts what exits: stop it and wait for the new PID.
        _stop(old, str(state))
        end = time.monotonic() + 15
        while time.monotonic() < end:
            fresh = _find(json.loads(profile_path.read_text()), name)
            if fresh["pid"] != old:
                return {"name": name, "old_pid": old, "pid": fresh["pid"], "by": "supervisor"}
            time.sleep(0.2)
        raise StarlingError(f"the supervisor (pid {supervisor}) did not restart {name}", code=ErrorCode.C022)
    _stop(old, str(state))
    log = Path(entry.get("log") or Path(entry["dir"]) / "agent.out")
    proc = spawn(entry["argv"], log)
    _replace_pid(profile, name, old, proc.pid)
    write_private(profile_path, json.dumps(profile, indent=2))
    return {"name": name, "old_pid": old, "pid": proc.pid, "by": "restart"}
