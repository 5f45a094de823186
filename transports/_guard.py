"""Bounds before login: what an unauthenticated peer may cost a server.

A server carrier (``serve(..., limits=ConnLimits(...))``) admits each new
connection through a :class:`ConnGate` before it spends anything on it (no TLS
handshake, no buffer). Until the server's handler calls
:meth:`~transports.Channel.mark_authenticated`, the connection

* may send frames of at most ``preauth_frame`` bytes (after login the
  carrier's ``max_frame`` applies),
* must log in within ``preauth_deadline`` seconds, TLS handshake included,
  or it is closed with one INFO line (rate-limited, no traceback),
* counts against ``max_preauth`` (all listeners' unauthenticated connections
  of this gate) and ``max_preauth_per_source`` (those from one address).

Every connection, logged in or not, counts against ``max_connections``. A
connection over a cap is closed at once, before TLS, and the refusals are
logged as one rate-limited WARNING line.

Memory held by a crowd of pre-login peers goes back to the operating system
when the crowd leaves: glibc keeps freed heap in its arenas, so once a busy
gate falls idle :func:`trim_memory` asks it to return what it can.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import trio

log = logging.getLogger("starling.transports.guard")

#: A login message (``hello``) is well under 4 KiB; 16 KiB leaves room and
#: keeps what a crowd of pre-login peers can make a server hold small (each
#: such TLS connection costs about 4x its frame limit; see docs/security.md).
DEFAULT_PREAUTH_FRAME = 16 * 1024
_LOG_EVERY = 10.0  # seconds between two lines about refused or timed-out peers
_TRIM_AFTER = 64  # strangers gone since the last trim that make one worthwhile
_TRIM_GAP = 5.0  # seconds between two trims


@dataclass(frozen=True)
class ConnLimits:
    """Limits for one server role's listeners.

    :param preauth_frame: the largest frame body accepted before login.
    :param preauth_deadline: seconds from accept to login (TLS handshake included).
    :param max_connections: connections held at once, logged in or not.
    :param max_preauth: connections not yet logged in, held at once.
    :param max_preauth_per_source: of those, from one source address.
    """

    preauth_frame: int = DEFAULT_PREAUTH_FRAME
    preauth_deadline: float = 10.0
    max_connections: int = 50_000
    max_preauth: int = 1024
    max_preauth_per_source: int = 64

    def __post_init__(self) -> None:
        if self.preauth_frame < 1024:
            raise ValueError(f"preauth_frame {self.preauth_frame} is below 1024 bytes: no hello would fit")
        if not self.preauth_deadline > 0:
            raise ValueError(f"preauth_deadline must be positive, not {self.preauth_deadline}")
        for name in ("max_connections", "max_preauth", "max_preauth_per_source"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


class _RateLog:
    """One log line per period at most, counting what it did not print."""

    def __init__(self, level: int, every: float = _LOG_EVERY) -> None:
        self.level = level
        self.every = every
        self._last = -math.inf
        self._held = 0

    def __call__(self, fmt: str, *args: object) -> None:
        self._held += 1
        now = time.monotonic()
        if now - self._last < self.every:
            return
        more = f" (and {self._held - 1} more in the last {self.every:.0f} s)" if self._held > 1 else ""
        log.log(self.level, fmt + more, *args)
        self._last = now
        self._held = 0


@dataclass(slots=True)
class Admission:
    """One admitted connection: its pre-login deadline and its place in the counts."""

    gate: ConnGate
    source: str
    scope: trio.CancelScope
    authenticated: bool = False
    released: bool = False

    def mark_authenticated(self) -> None:
        """The peer logged in: lift the deadline and leave the pre-login counts."""
        if self.authenticated or self.released:
            return
        self.authenticated = True
        self.scope.deadline = math.inf
        self.gate._leave_preauth(self.source)

    def release(self) -> None:
        """The connection ended; idempotent."""
        if self.released:
            return
        self.released = True
        if not self.authenticated:
            self.gate._leave_preauth(self.source)
            self.gate._since_trim += 1  # a stranger left: count it toward a trim
        self.gate.total -= 1
        self.gate._maybe_trim()

    def timed_out(self, peer: str) -> bool:
        """True (and one rate-limited INFO line) if the pre-login deadline closed it."""
        if self.scope.cancelled_caught and not self.authenticated:
            self.gate.timeouts += 1
            self.gate._log_timeout(
                "closed %s: no login within %.0f s", peer, self.gate.limits.preauth_deadline
            )
            return True
        return False


class ConnGate:
    """Admission control shared by the listeners of one server role.

    :param limits: the caps and pre-login bounds.
    :param name: what the log lines call this server (``proxy``, ``center link``).
    """

    def __init__(self, limits: ConnLimits | None = None, name: str = "server") -> None:
        self.limits = limits or ConnLimits()
        self.name = name
        self.total = 0
        self.preauth = 0
        self.by_source: dict[str, int] = {}
        self.refused = 0
        self.timeouts = 0
        self.peak_preauth = 0
        self._since_trim = 0
        self._last_trim = -math.inf
        self._trim_pending = False
        self._log_refused = _RateLog(logging.WARNING)
        self._log_timeout = _RateLog(logging.INFO)

    def admit(self, source: str) -> Admission | None:
        """Count a new connection from ``source`` (an address, no port), or
        ``None`` (and a rate-limited log line) when a cap is reached: the
        caller closes the connection at once."""
        lim = self.limits
        held = self.by_source.get(source, 0)
        if self.total >= lim.max_connections:
            why = f"{self.total} connections held (max_connections {lim.max_connections})"
        elif self.preauth >= lim.max_preauth:
            why = f"{self.preauth} connections not logged in (max_preauth {lim.max_preauth})"
        elif held >= lim.max_preauth_per_source:
            why = f"{held} connections from {source} not logged in (max_preauth_per_source {lim.max_preauth_per_source})"
        else:
            self.total += 1
            self.preauth += 1
            self.by_source[source] = held + 1
            self.peak_preauth = max(self.peak_preauth, self.preauth)
            scope = trio.CancelScope(deadline=trio.current_time() + lim.preauth_deadline)
            return Admission(self, source, scope)
        self.refused += 1
        self._log_refused("%s refused a connection from %s: %s", self.name, source, why)
        return None

    def statistics(self) -> dict[str, int]:
        """Counts for metrics and benchmarks."""
        return {
            "connections": self.total, "preauth": self.preauth, "peak_preauth": self.peak_preauth,
            "refused": self.refused, "timeouts": self.timeouts,
        }

    def _leave_preauth(self, source: str) -> None:
        self.preauth -= 1
        left = self.by_source.get(source, 1) - 1
        if left > 0:
            self.by_source[source] = left
        else:
            self.by_source.pop(source, None)

    def _maybe_trim(self) -> None:
        # Trim when a crowd of strangers (peers that never logged in) has come
        # and gone: the heap they grew is free now, but glibc would keep it
        # mapped. Agents that log in do not count, so a busy, healthy proxy
        # never pays for a collection.
        if self.preauth or self._since_trim < _TRIM_AFTER:
            return
        if time.monotonic() - self._last_trim < _TRIM_GAP:
            self._trim_pending = True  # run_trimmer does it a little later
            return
        self._trim()

    def _trim(self) -> None:
        self._last_trim = time.monotonic()
        crowd, self._since_trim = self._since_trim, 0
        self._trim_pending = False
        before = _rss()
        trim_memory()
        log.info("%s: %d connections gone without logging in; memory trimmed, RSS %s -> %s MiB", self.name, crowd, before, _rss())

    async def run_trimmer(self) -> None:
        """Run forever in the role's nursery: finish a trim that was due
        while the last one was too recent."""
        while True:
            await trio.sleep(_TRIM_GAP / 2)
            if self._trim_pending and not self.preauth and time.monotonic() - self._last_trim >= _TRIM_GAP:
                self._trim()


_trim: object = None


def _rss() -> str:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return "?"
    return f"{pages * os.sysconf('SC_PAGE_SIZE') / 1048576:.0f}"


def trim_memory() -> bool:
    """Free what the departed connections left, and ask the C allocator to
    give freed heap back to the OS (glibc's ``malloc_trim``, through cffi's
    ABI mode). ``False`` where it cannot trim.

    A failed TLS handshake leaves reference cycles (exception, traceback,
    frames) that hold the SSL objects' C memory until the cyclic collector
    runs; a full collection first frees them, so the trim can return them.
    """
    global _trim
    gc.collect()
    if _trim is None:
        try:
            import cffi

            ffi = cffi.FFI()
            ffi.cdef("int malloc_trim(size_t pad);")
            _trim = ffi.dlopen(None).malloc_trim
        except Exception as exc:  # not glibc, or no cffi backend: nothing to trim with
            log.debug("malloc_trim unavailable: %s", exc)
            _trim = False
    if _trim is False:
        return False
    _trim(0)  # type: ignore[operator]
    return True


def gate_for(limits: ConnLimits | ConnGate | None, name: str) -> ConnGate | None:
    """The gate a listener admits through: its own for :class:`ConnLimits`, a
    shared one as given (several listeners of one role), or none."""
    if limits is None or isinstance(limits, ConnGate):
        return limits
    return ConnGate(limits, name)


class guarding:  # noqa: N801 - used as a context manager function, as it was one
    """Run a connection's whole life (TLS handshake and handler) under
    ``admission``'s pre-login deadline, and release its place in the counts
    at the end. A peer that does not log in in time is cancelled and costs
    one rate-limited INFO line, no traceback. ``None``: no bounds.

    A class, not a ``@contextmanager``: every connection keeps its guard for as
    long as it lives, and a suspended generator with its context manager
    weighs ~350 bytes where this weighs 56.
    """

    __slots__ = ("_admission", "_kept", "_peer")

    def __init__(self, admission: Admission | None, peer: str) -> None:
        self._admission = admission
        self._peer = peer
        self._kept = False

    def release_at_close(self, channel: Any) -> None:
        """The handler returned with ``channel`` parked (:class:`~transports.Parking`): the
        connection's place in the counts ends when the channel closes, not here."""
        if self._admission is not None:
            channel._release = self._admission.release
            self._kept = True

    def __enter__(self) -> guarding:
        if self._admission is not None:
            self._admission.scope.__enter__()
        return self

    def __exit__(self, etype: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> bool:
        admission = self._admission
        if admission is None:
            return False
        try:
            swallowed = admission.scope.__exit__(etype, exc, tb)
            if etype is None or swallowed:
                admission.timed_out(self._peer)
            return swallowed
        finally:
            if not self._kept:
                admission.release()


def source_of(peer: str) -> str:
    """The address part of a ``host:port`` peer name (IPv6 too)."""
    host, sep, _port = peer.rpartition(":")
    return host.strip("[]") if sep else peer
