"""Helpers shared by the process plugins: looking up a pid safely and summarising a process.

psutil is imported inside the functions (plugin modules stay light to import).
"""

from __future__ import annotations

import os
import signal
from typing import Any

import msgspec

from agent_core import InvalidParams, NotFound

CMDLINE_MAX = 1024


class ProcSummary(msgspec.Struct):
    pid: int
    ppid: int
    name: str
    user: str
    state: str
    rss: int
    cpu_time: float
    threads: int
    nice: int
    started: float
    cmdline: str


def get_process(pid: int) -> Any:
    """The ``psutil.Process`` for ``pid``; ``A002`` for a non-positive pid, ``A017`` if it does not exist."""
    import psutil

    if pid <= 0:
        raise InvalidParams(f"pid must be a positive integer, got {pid}")
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        raise NotFound(f"no process with pid {pid}") from None


def agent_lineage() -> set[int]:
    """The agent's own pid and its ancestors: never signalled or reniced by a task."""
    import psutil

    out = {os.getpid()}
    try:
        for parent in psutil.Process().parents():
            out.add(parent.pid)
    except psutil.Error:
        pass
    return out


def guard_target(pid: int) -> None:
    """Refuse pids whose signalling would take the host or the agent down."""
    if pid == 1:
        raise InvalidParams("refusing to act on pid 1 (init): use sys.reboot or a service action")
    if pid in agent_lineage():
        raise InvalidParams(f"refusing to act on pid {pid}: it is the agent or one of its parents")


def parse_signal(value: str | int) -> signal.Signals:
    """``"TERM"``, ``"SIGTERM"``, ``"15"`` or ``15`` to a signal; ``A002`` otherwise."""
    try:
        if isinstance(value, int) or str(value).isdigit():
            return signal.Signals(int(value))
        name = str(value).upper()
        return signal.Signals[name if name.startswith("SIG") else f"SIG{name}"]
    except (KeyError, ValueError):
        raise InvalidParams(f"unknown signal {value!r}") from None


def check_expected_name(proc: Any, expect: str | None) -> None:
    """Guard against pid reuse: the caller says which program it means to hit."""
    if expect is None:
        return
    import psutil

    try:
        name = proc.name()
    except psutil.NoSuchProcess:
        raise NotFound(f"process {proc.pid} is gone") from None
    if name != expect:
        raise NotFound(f"process {proc.pid} is {name!r}, not {expect!r} (pid reused?)")


def summary(proc: Any) -> ProcSummary | None:
    """One line about a process, or ``None`` if it vanished while being read."""
    import psutil

    try:
        with proc.oneshot():
            times = proc.cpu_times()
            try:
                cmdline = " ".join(proc.cmdline())
            except (psutil.AccessDenied, psutil.ZombieProcess):
                cmdline = ""
            try:
                user = proc.username()
            except (KeyError, psutil.AccessDenied):
                user = str(proc.uids().real)
            return ProcSummary(
                pid=proc.pid,
                ppid=proc.ppid(),
                name=proc.name(),
                user=user,
                state=proc.status(),
                rss=proc.memory_info().rss,
                cpu_time=round(times.user + times.system, 2),
                threads=proc.num_threads(),
                nice=proc.nice(),
                started=proc.create_time(),
                cmdline=cmdline[:CMDLINE_MAX],
            )
    except psutil.NoSuchProcess:
        return None
    except psutil.AccessDenied:
        return ProcSummary(pid=proc.pid, ppid=0, name="?", user="?", state="?", rss=0, cpu_time=0.0, threads=0, nice=0, started=0.0, cmdline="")
