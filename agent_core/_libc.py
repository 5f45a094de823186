"""libc calls the stdlib lacks, through cffi's ABI mode (no compiler needed)."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

log = logging.getLogger("starling.agent")

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1


@functools.cache
def _libc() -> Any:
    import cffi

    ffi = cffi.FFI()
    ffi.cdef("int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5);")
    return ffi.dlopen(None)


def set_child_subreaper() -> bool:
    """Make this process adopt orphaned descendants, so a task's escaped
    grandchildren are reaped (and killable) by the agent, not init."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return bool(_libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except Exception as exc:  # no cffi backend or not Linux: best effort
        log.warning("prctl(PR_SET_CHILD_SUBREAPER) unavailable: %s", exc)
        return False


def subreaper_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the new process a child subreaper (the flag
    survives ``execve``); ``None`` where that is not available.

    The cffi library is loaded here, in the parent, so the function run between
    fork and exec only makes the one system call.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = _libc().prctl
    except Exception as exc:  # no cffi backend: the runner falls back to process groups
        log.warning("prctl unavailable: %s", exc)
        return None

    def preexec() -> None:
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    return preexec
