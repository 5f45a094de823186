"""Is the clock synchronised? Kernel clock state plus chrony, ntpd or timesyncd.

``sys.timesync`` asks the kernel first (``adjtimex``: the unsynchronised flag,
estimated and maximum error, frequency correction, the clock source), then the
time daemon that runs: ``chronyc tracking`` (reference, stratum, offset),
``ntpq -pn`` (the selected peer and its offset) or ``timedatectl show`` on
systemd hosts. It returns one verdict, ``ok``, that is true when the clock is
synchronised and its known offset is within ``max_offset`` seconds. Reads
only; each daemon's client is used only if installed.
"""

from __future__ import annotations

import os
import shutil
from typing import Annotated

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action
from agent_core.procfs import pids, read, systemd_running

PLUGIN = Plugin("sys.timesync", domain="system")

CLOCKSOURCE = "/sys/devices/system/clocksource/clocksource0"
STA_UNSYNC = 0x0040
STA_NANO = 0x2000
CLOCK_STATES = {0: "ok", 1: "insert-leap", 2: "delete-leap", 3: "leap-in-progress", 4: "leap-done", 5: "error"}
DAEMONS = {"chronyd", "ntpd", "openntpd", "systemd-timesyn", "ptp4l", "phc2sys", "timesyncd"}


class Params(msgspec.Struct, forbid_unknown_fields=True):
    max_offset: Annotated[float, msgspec.Meta(gt=0)] = 0.1


class KernelClock(msgspec.Struct):
    state: str
    synchronized: bool
    status: int
    offset_us: float
    freq_ppm: float
    maxerror_us: int
    esterror_us: int
    tai_offset: int
    clocksource: str
    clocksources: list[str]


class Chrony(msgspec.Struct):
    reference: str
    stratum: int
    offset: float
    rms_offset: float
    freq_ppm: float
    root_delay: float
    root_dispersion: float
    leap: str


class NtpPeer(msgspec.Struct):
    remote: str
    refid: str
    stratum: int
    reach: str
    delay_ms: float
    offset_ms: float
    jitter_ms: float
    selected: bool


class TimeSync(msgspec.Struct):
    ok: bool
    synchronized: bool
    source: str
    offset: float | None
    daemons: list[str]
    kernel: KernelClock
    chrony: Chrony | None = None
    ntp_peers: list[NtpPeer] = []
    timedatectl: dict[str, str] = {}
    notes: list[str] = []


def kernel_clock() -> KernelClock:
    """Read the kernel's NTP state with ``adjtimex(2)`` (modes 0: read only)."""
    import ctypes

    class Timeval(ctypes.Structure):
        _fields_ = [("sec", ctypes.c_long), ("usec", ctypes.c_long)]

    class Timex(ctypes.Structure):
        _fields_ = [
            ("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
            ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
            ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
            ("time", Timeval), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
            ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
            ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
            ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int), ("_pad", ctypes.c_int * 11),
        ]  # fmt: skip

    libc = ctypes.CDLL(None, use_errno=True)
    tx = Timex()
    state = libc.adjtimex(ctypes.byref(tx))
    if state < 0:
        raise ActionError(f"adjtimex failed: {os.strerror(ctypes.get_errno())}", code=ErrorCode.A004)
    offset_us = tx.offset / 1000.0 if tx.status & STA_NANO else float(tx.offset)
    return KernelClock(
        state=CLOCK_STATES.get(state, str(state)),
        synchronized=not (tx.status & STA_UNSYNC) and state != 5,
        status=tx.status,
        offset_us=offset_us,
        freq_ppm=round(tx.freq / 65536.0, 3),  # scaled ppm: 16 fractional bits
        maxerror_us=tx.maxerror,
        esterror_us=tx.esterror,
        tai_offset=tx.tai,
        clocksource=read(f"{CLOCKSOURCE}/current_clocksource") or "",
        clocksources=(read(f"{CLOCKSOURCE}/available_clocksource") or "").split(),
    )


def running_daemons() -> list[str]:
    found = set()
    for pid in pids():
        comm = read(f"/proc/{pid}/comm")
        if comm in DAEMONS:
            found.add(comm)
    return sorted(found)


def parse_chrony_tracking(csv_line: str) -> Chrony:
    """Parse ``chronyc -c tracking`` (one CSV line, 14 fields)."""
    f = csv_line.strip().split(",")
    if len(f) < 14:
        raise ValueError(f"unexpected chronyc output: {csv_line!r}")
    return Chrony(
        reference=f[1] or f[0],
        stratum=int(f[2]),
        offset=float(f[4]),
        rms_offset=float(f[6]),
        freq_ppm=float(f[7]),
        root_delay=float(f[10]),
        root_dispersion=float(f[11]),
        leap=f[13],
    )


def parse_ntpq_peers(text: str) -> list[NtpPeer]:
    """Parse ``ntpq -pn``: a header, a rule, then one peer per line with a tally code."""
    peers = []
    for line in text.splitlines()[2:]:
        if not line.strip():
            continue
        tally, rest = line[0], line[1:].split()
        if len(rest) < 10:
            continue
        peers.append(
            NtpPeer(
                remote=rest[0],
                refid=rest[1],
                stratum=int(rest[2]),
                reach=rest[6],
                delay_ms=float(rest[7]),
                offset_ms=float(rest[8]),
                jitter_ms=float(rest[9]),
                selected=tally == "*",
            )
        )
    return peers


@action("sys.timesync", risk=Risk.READ, timeout=20)
async def timesync(ctx: ActionContext, p: Params) -> TimeSync:
    """Clock synchronisation verdict from the kernel and the running time daemon, with the offset."""
    kernel = kernel_clock()
    out = TimeSync(
        ok=False, synchronized=kernel.synchronized, source="kernel", offset=None,
        daemons=running_daemons(), kernel=kernel,
    )  # fmt: skip
    if "chronyd" in out.daemons and shutil.which("chronyc"):
        res = await ctx.run(["chronyc", "-c", "tracking"])
        try:
            out.chrony = parse_chrony_tracking(res.stdout.strip().splitlines()[0])
            out.source, out.offset = "chrony", out.chrony.offset
            out.synchronized = out.chrony.leap != "Not synchronised" and out.chrony.stratum < 16
        except (ValueError, IndexError) as exc:
            out.notes.append(f"chronyc tracking unreadable: {exc}")
    elif {"ntpd", "openntpd"} & set(out.daemons) and shutil.which("ntpq"):
        res = await ctx.run(["ntpq", "-pn"])
        out.ntp_peers = parse_ntpq_peers(res.stdout)
        chosen = [peer for peer in out.ntp_peers if peer.selected]
        out.source = "ntpd"
        out.synchronized = bool(chosen)
        out.offset = chosen[0].offset_ms / 1000.0 if chosen else None
    if systemd_running() and shutil.which("timedatectl"):
        res = await ctx.run(["timedatectl", "show"])
        out.timedatectl = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
        if out.source == "kernel" and "NTPSynchronized" in out.timedatectl:
            out.source = "timedatectl"
            out.synchronized = out.timedatectl["NTPSynchronized"] == "yes"
    if not out.daemons:
        out.notes.append("no time daemon running (chronyd, ntpd, systemd-timesyncd)")
    if out.offset is None and kernel.synchronized:
        out.offset = kernel.offset_us / 1e6
    out.ok = out.synchronized and out.offset is not None and abs(out.offset) <= p.max_offset
    return out
