"""Readers of ``/proc`` and ``/sys`` for host-inspection plugins.

Everything here is cheap, synchronous and stdlib-only: procfs and sysfs reads
do not block on disk. Readers return ``None`` (or an empty value) for a file
that is missing or unreadable, because on a given kernel many optional files
simply do not exist; the plugin decides what absence means.

The socket tables (``/proc/net/{tcp,udp}{,6}``) are read by :func:`read_sockets`
and their owners found by :func:`socket_owners`; processes are found by
:func:`pgrep`. One reader each, for every plugin.
"""

from __future__ import annotations

import os
import re
import socket
import struct
from dataclasses import dataclass

__all__ = [
    "ProcEntry",
    "SockRow",
    "TCP_STATES",
    "exists",
    "hex_endpoint",
    "hex_ipv4",
    "hex_ipv6_route",
    "hex_ipv6_sock",
    "is_dir",
    "kib_value",
    "listdir",
    "parse_colon_kv",
    "parse_cpulist",
    "pgrep",
    "pids",
    "proc_entry",
    "read",
    "read_int",
    "read_sockets",
    "selected",
    "socket_owners",
    "systemd_running",
]


def read(path: str) -> str | None:
    """The text of ``path`` without its trailing newline, or ``None``."""
    try:
        with open(path, errors="replace") as fh:
            return fh.read().rstrip("\n")
    except OSError:
        return None


def read_int(path: str) -> int | None:
    text = read(path)
    if text is None:
        return None
    try:
        return int(text.split()[0], 0) if text.strip() else None
    except ValueError:
        return None


def listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def parse_colon_kv(text: str) -> dict[str, str]:
    """``Key:   value`` lines (``/proc/meminfo``, ``/proc/PID/status``) to a dict."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def kib_value(value: str) -> int:
    """``"123 kB"`` to bytes; a bare number is returned unchanged."""
    parts = value.split()
    if not parts:
        return 0
    number = int(parts[0])
    return number * 1024 if len(parts) > 1 and parts[1].lower() == "kb" else number


def parse_cpulist(text: str | None) -> list[int]:
    """A kernel cpu list (``"0-3,8,10-11"``) to the list of CPU numbers."""
    cpus: list[int] = []
    for part in (text or "").strip().split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    return cpus


def selected(text: str | None) -> str:
    """The bracketed choice of a sysfs selector (``"always [madvise] never"`` -> ``madvise``)."""
    match = re.search(r"\[([^\]]+)\]", text or "")
    return match.group(1) if match else (text or "").strip()


def exists(path: str) -> bool:
    return os.path.exists(path)


def is_dir(path: str) -> bool:
    return os.path.isdir(path)


def systemd_running() -> bool:
    """True when systemd is PID 1 (``sd_booted()``'s test)."""
    return os.path.isdir("/run/systemd/system")


def pids(proc: str = "/proc") -> list[int]:
    """Every process id visible in ``/proc``."""
    return sorted(int(name) for name in listdir(proc) if name.isdigit())


# -- processes ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcEntry:
    """What :func:`pgrep` matches on: a process's name, executable and argv."""

    pid: int
    comm: str
    exe: str
    argv: tuple[str, ...]

    @property
    def cmdline(self) -> str:
        return " ".join(self.argv)


def proc_entry(pid: int, proc: str = "/proc") -> ProcEntry | None:
    """``pid``'s name, executable and argv, or ``None`` when it is gone."""
    base = f"{proc}/{pid}"
    try:
        with open(f"{base}/comm") as fh:
            comm = fh.read().rstrip("\n")
        with open(f"{base}/cmdline", "rb") as fh:
            argv = tuple(a.decode("utf-8", "replace") for a in fh.read().split(b"\x00") if a)
    except OSError:
        return None  # exited while we looked
    try:
        exe = os.readlink(f"{base}/exe").removesuffix(" (deleted)")
    except OSError:
        exe = ""  # kernel threads and other users' processes without privilege
    return ProcEntry(pid=pid, comm=comm, exe=exe, argv=argv)


def pgrep(
    pattern: re.Pattern[str] | None = None,
    *,
    name: str | None = None,
    field: str = "cmdline",
    include_self: bool = False,
    proc: str = "/proc",
) -> list[ProcEntry]:
    """The processes that match, sorted by pid (the agent itself left out).

    :param pattern: a compiled regex searched in ``field`` (``cmdline``, ``name`` or ``exe``),
        as ``pgrep -f`` / ``pgrep``.
    :param name: an exact program name, matched as ``pidof`` does: the kernel's
        name, the executable's base name or argv[0]'s base name.
    """
    me = os.getpid()
    found: list[ProcEntry] = []
    for pid in pids(proc):
        if pid == me and not include_self:
            continue
        entry = proc_entry(pid, proc)
        if entry is None:
            continue
        if name is not None:
            argv0 = os.path.basename(entry.argv[0]) if entry.argv else ""
            if name not in (entry.comm, os.path.basename(entry.exe), argv0):
                continue
        if pattern is not None:
            subject = {"name": entry.comm, "exe": entry.exe}.get(field, entry.cmdline)
            if not pattern.search(subject):
                continue
        found.append(entry)
    return found


# -- sockets ----------------------------------------------------------------------------

#: Kernel TCP states, index = the hex code in ``/proc/net/tcp``.
TCP_STATES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "NEW_SYN_RECV",
}


def hex_ipv4(text: str) -> str:
    """``/proc/net/route`` and ``/proc/net/tcp`` store IPv4 as host-order hex."""
    return socket.inet_ntop(socket.AF_INET, struct.pack("<I", int(text, 16)))


def hex_ipv6_route(text: str) -> str:
    """``/proc/net/ipv6_route`` stores IPv6 as 32 hex digits in network order."""
    return socket.inet_ntop(socket.AF_INET6, bytes.fromhex(text))


def hex_ipv6_sock(text: str) -> str:
    """``/proc/net/tcp6`` stores IPv6 as four host-order 32-bit words."""
    words = struct.unpack("<4I", bytes.fromhex(text))
    return socket.inet_ntop(socket.AF_INET6, struct.pack(">4I", *words))


def hex_endpoint(text: str, v6: bool) -> tuple[str, int]:
    addr, _, port = text.partition(":")
    return (hex_ipv6_sock(addr) if v6 else hex_ipv4(addr)), int(port, 16)


class SockRow:
    """One socket line of ``/proc/net/{tcp,udp}{,6}``."""

    __slots__ = ("inode", "local", "lport", "proto", "remote", "rport", "rx_queue", "state", "tx_queue", "uid")

    def __init__(self, proto: str, line: str) -> None:
        f = line.split()
        v6 = proto.endswith("6")
        self.proto = proto
        self.local, self.lport = hex_endpoint(f[1], v6)
        self.remote, self.rport = hex_endpoint(f[2], v6)
        code = int(f[3], 16)
        if proto.startswith("udp"):
            # UDP reuses the TCP codes: 7 (CLOSE) is an unconnected socket, 1 connected.
            self.state = {7: "UNCONN", 1: "ESTABLISHED"}.get(code) or TCP_STATES.get(code, str(code))
        else:
            self.state = TCP_STATES.get(code, str(code))
        tx, _, rx = f[4].partition(":")
        self.tx_queue = int(tx, 16)
        self.rx_queue = int(rx, 16)
        self.uid = int(f[7])
        self.inode = int(f[9])

    @property
    def listening(self) -> bool:
        """A listening TCP socket, or a bound, unconnected UDP one."""
        return self.state == "LISTEN" if self.proto.startswith("tcp") else self.state == "UNCONN" and self.rport == 0


def read_sockets(protos: tuple[str, ...] = ("tcp", "tcp6", "udp", "udp6"), proc: str = "/proc/net") -> list[SockRow]:
    """Every socket of the given protocols in the agent's network namespace."""
    rows: list[SockRow] = []
    for proto in protos:
        try:
            with open(os.path.join(proc, proto)) as fh:
                next(fh, None)
                rows.extend(SockRow(proto, line) for line in fh if line.strip())
        except FileNotFoundError:
            continue  # no IPv6 in this kernel
    return rows


def socket_owners(proc: str = "/proc") -> dict[int, tuple[int, str]]:
    """``{socket inode: (pid, comm)}`` from every process's open descriptors."""
    owners: dict[int, tuple[int, str]] = {}
    for pid in pids(proc):
        try:
            fds = os.listdir(f"{proc}/{pid}/fd")
        except OSError:
            continue
        comm = ""
        for fd in fds:
            try:
                target = os.readlink(f"{proc}/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                if not comm:
                    comm = read(f"{proc}/{pid}/comm") or "?"
                owners.setdefault(int(target[8:-1]), (pid, comm))
    return owners
