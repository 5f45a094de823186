"""Socket statistics summary: counts per state, kernel memory and TCP error counters.

``net.sockstat`` is the ``ss -s`` an operator reads during an incident, with
the counters that explain it: sockets in use per protocol, TCP orphans and
TIME_WAIT, TCP memory against the kernel's pressure threshold, TCP sockets
per state, and the cumulative TCP/UDP counters that reveal trouble (listen
queue overflows, retransmitted segments, resets, UDP receive-buffer drops).
Findings that need attention are listed in plain words. Reads
``/proc/net/sockstat``, ``snmp``, ``netstat`` and the TCP tables.
"""

from __future__ import annotations

from collections import Counter

import msgspec

from agent_core import ActionContext, NoParams, Plugin, Risk, action
from agent_core.procfs import read_sockets

from ._common import read_int

PLUGIN = Plugin(
    "net.sockstat",
    domain="network",
    requires_files=["/proc/net/sockstat"],
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


@action("net.sockstat", risk=Risk.READ, timeout=20)
async def sockstat(ctx: ActionContext, p: NoParams) -> SockStat:
    """Sockets in use, TCP states, TCP memory and the TCP/UDP error counters."""

    stat = parse_sockstat(_read("/proc/net/sockstat"))
    stat.update(parse_sockstat(_read("/proc/net/sockstat6")))
    snmp = parse_counter_table(_read("/proc/net/snmp"))
    ext = parse_counter_table(_read("/proc/net/netstat")).get("TcpExt", {})
    rows = await ctx.to_thread(read_sockets, ("tcp", "tcp6"))
    tcp = stat.get("TCP", {})
    mem_limits = _read("/proc/sys/net/ipv4/tcp_mem").split() or [None, None]
    pressure = int(mem_limits[1]) if len(mem_limits) > 1 and mem_limits[1] else None
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
