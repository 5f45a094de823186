"""TCP and UDP sockets (listening and connected) with their process, and the ``ss -s`` summary.

``net.sockets`` lists the host's sockets in one row shape — protocol, family,
local and remote endpoint, state, whether it listens and whether it is exposed
(bound to a wildcard or non-loopback address), owning pid, process, uid/user,
inode and send/receive queue bytes (a growing queue means a stuck peer or
application) — filtered by ``state`` (a TCP state, ``listening`` or
``connected``), ``port``, ``pid``, ``remote`` or exposure, with counts per
state and the remotes holding most connections. It reads ``/proc/net``
(``agent_core.procfs``), psutil where that cannot, ``ss`` where neither can
(``backend`` picks one). ``net.sockets.summary`` is the summary an operator
reads during an incident: sockets per protocol, orphans and TIME_WAIT, TCP
memory against its pressure threshold, TCP states and the TCP/UDP error
counters (listen overflows, retransmits, resets, receive-buffer drops), with
the findings in plain words. Read only.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, NoParams, Plugin, Risk, action, procfs

from ._common import check_address, read_int
from ._sockets import BACKENDS, PROTOS, STATES, Socket, read_sockets

PLUGIN = Plugin("net.sockets", domain="network")


class SocketsParams(msgspec.Struct, forbid_unknown_fields=True):
    proto: str = "any"
    """``tcp``, ``udp`` or ``any``."""
    state: str | None = None
    """A TCP state (``ESTABLISHED``, ``TIME_WAIT``...), ``UNCONN``, ``listening`` or ``connected``."""
    port: Annotated[int, msgspec.Meta(gt=0, lt=65536)] | None = None
    """Local or remote port."""
    pid: Annotated[int, msgspec.Meta(gt=0)] | None = None
    """Only sockets this process holds open."""
    remote: str | None = None
    """Only sockets connected to/from this IP address."""
    exposed_only: bool = False
    """Only sockets bound to a wildcard or non-loopback address."""
    processes: bool = True
    """Find the owning process (a scan of every process's descriptors)."""
    backend: str = "auto"
    """``auto`` (procfs, then psutil, then ss), or one of ``procfs``, ``psutil``, ``ss``."""
    limit: Annotated[int, msgspec.Meta(gt=0, le=100_000)] = 1000


class Sockets(msgspec.Struct):
    sockets: list[Socket]
    total: int
    """Matching sockets before ``limit``."""
    truncated: bool
    backend: str
    by_state: dict[str, int]
    top_remotes: dict[str, int]
    """The ten remote addresses with the most connections."""


def _state(value: str | None) -> str | None:
    if value is None:
        return None
    state = value.upper() if value.lower() not in ("listening", "connected") else value.lower()
    if state not in STATES and state not in ("listening", "connected"):
        raise InvalidParams(f"state: {value!r} is not listening, connected or one of {', '.join(sorted(STATES))}")
    return state


def _wanted(s: Socket, p: SocketsParams, state: str | None, remote: str | None) -> bool:
    if state == "listening" and not s.listening or state == "connected" and s.listening:
        return False
    if state not in (None, "listening", "connected") and s.state != state:
        return False
    if p.port is not None and p.port not in (s.local_port, s.remote_port):
        return False
    if p.pid is not None and s.pid != p.pid:
        return False
    if p.exposed_only and not s.exposed:
        return False
    return remote is None or s.remote == remote


@action("net.sockets", risk=Risk.READ, timeout=30)
async def sockets(ctx: ActionContext, p: SocketsParams) -> Sockets:
    """TCP/UDP sockets with endpoints, state, owner and queues; filters and counts per state/remote."""
    protos = PROTOS.get(p.proto)
    if protos is None:
        raise InvalidParams(f"proto: {p.proto!r} is not one of tcp, udp, any")
    if p.backend not in BACKENDS:
        raise InvalidParams(f"backend: {p.backend!r} is not one of {', '.join(BACKENDS)}")
    state = _state(p.state)
    remote = str(check_address(p.remote, "remote")) if p.remote else None
    if p.pid is not None and not p.processes:
        raise InvalidParams("pid: filtering by process needs processes: true")
    backend, rows = await ctx.to_thread(read_sockets, protos, p.processes, p.backend)
    rows = [s for s in rows if _wanted(s, p, state, remote)]
    rows.sort(key=lambda s: (s.proto, not s.listening, s.local_port, s.local, s.remote, s.remote_port))
    connected = [s for s in rows if not s.listening]
    return Sockets(
        sockets=rows[: p.limit],
        total=len(rows),
        truncated=len(rows) > p.limit,
        backend=backend,
        by_state=dict(Counter(s.state for s in rows)),
        top_remotes=dict(Counter(s.remote for s in connected).most_common(10)),
    )


_TCP_KEYS = (
    "ActiveOpens",
    "PassiveOpens",
    "AttemptFails",
    "EstabResets",
    "CurrEstab",
    "InSegs",
    "OutSegs",
    "RetransSegs",
    "InErrs",
    "OutRsts",
)
_UDP_KEYS = ("InDatagrams", "NoPorts", "InErrors", "OutDatagrams", "RcvbufErrors", "SndbufErrors")
_EXT_KEYS = (
    "ListenOverflows",
    "ListenDrops",
    "TCPTimeouts",
    "TCPSynRetrans",
    "SyncookiesSent",
    "TCPBacklogDrop",
    "TCPAbortOnMemory",
)


class SockStat(msgspec.Struct):
    sockets_used: int
    in_use: dict[str, int]
    """Sockets in use per protocol (``TCP``, ``TCP6``, ``UDP``, ``RAW`` ...)."""
    tcp_orphan: int
    tcp_time_wait: int
    tcp_alloc: int
    tcp_mem_pages: int
    tcp_mem_pressure_pages: int | None
    tcp_states: dict[str, int]
    tcp: dict[str, int]
    udp: dict[str, int]
    tcp_ext: dict[str, int]
    problems: list[str]


def parse_sockstat(text: str) -> dict[str, dict[str, int]]:
    """``TCP: inuse 3 orphan 0 tw 2`` lines into ``{"TCP": {"inuse": 3, ...}}``."""
    out: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        proto, sep, rest = line.partition(":")
        if not sep:
            continue
        f = rest.split()
        out[proto.strip()] = {f[i]: int(f[i + 1]) for i in range(0, len(f) - 1, 2)}
    return out


def parse_counter_table(text: str) -> dict[str, dict[str, int]]:
    """The header/value line pairs of ``/proc/net/snmp`` and ``/proc/net/netstat``."""
    out: dict[str, dict[str, int]] = {}
    lines = text.splitlines()
    for head, values in zip(lines[::2], lines[1::2], strict=False):
        name, _, keys = head.partition(":")
        _, _, vals = values.partition(":")
        out[name] = {k: int(v) for k, v in zip(keys.split(), vals.split(), strict=False)}
    return out


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except FileNotFoundError:
        return ""


@action("net.sockets.summary", risk=Risk.READ, timeout=20)
async def summary(ctx: ActionContext, p: NoParams) -> SockStat:
    """Sockets in use, TCP states, TCP memory and the TCP/UDP error counters."""

    stat = parse_sockstat(_read("/proc/net/sockstat"))
    stat.update(parse_sockstat(_read("/proc/net/sockstat6")))
    snmp = parse_counter_table(_read("/proc/net/snmp"))
    ext = parse_counter_table(_read("/proc/net/netstat")).get("TcpExt", {})
    rows = await ctx.to_thread(procfs.read_sockets, ("tcp", "tcp6"))
    tcp = stat.get("TCP", {})
    mem_limits = _read("/proc/sys/net/ipv4/tcp_mem").split()
    pressure = int(mem_limits[1]) if len(mem_limits) > 1 else None
    max_orphans = read_int("/proc/sys/net/ipv4/tcp_max_orphans")
    result = SockStat(
        sockets_used=stat.get("sockets", {}).get("used", 0),
        in_use={proto: v["inuse"] for proto, v in stat.items() if "inuse" in v},
        tcp_orphan=tcp.get("orphan", 0),
        tcp_time_wait=tcp.get("tw", 0),
        tcp_alloc=tcp.get("alloc", 0),
        tcp_mem_pages=tcp.get("mem", 0),
        tcp_mem_pressure_pages=pressure,
        tcp_states=dict(Counter(r.state for r in rows)),
        tcp={k: snmp.get("Tcp", {}).get(k, 0) for k in _TCP_KEYS},
        udp={k: snmp.get("Udp", {}).get(k, 0) for k in _UDP_KEYS},
        tcp_ext={k: ext.get(k, 0) for k in _EXT_KEYS},
        problems=[],
    )
    problems = result.problems
    if pressure and result.tcp_mem_pages >= pressure:
        problems.append(
            f"TCP memory {result.tcp_mem_pages} pages is at the pressure threshold {pressure}"
        )
    if max_orphans and result.tcp_orphan > max_orphans // 2:
        problems.append(f"{result.tcp_orphan} orphaned TCP sockets (limit {max_orphans})")
    if result.tcp_ext["ListenOverflows"]:
        problems.append(
            f"listen queues overflowed {result.tcp_ext['ListenOverflows']} times: an accept() loop is too slow"
        )
    if result.udp["RcvbufErrors"]:
        problems.append(
            f"{result.udp['RcvbufErrors']} UDP datagrams dropped for a full receive buffer"
        )
    if result.tcp_states.get("CLOSE_WAIT", 0) > 100:
        problems.append(
            f"{result.tcp_states['CLOSE_WAIT']} sockets in CLOSE_WAIT: an application does not close them"
        )
    return result
