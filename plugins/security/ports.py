"""Audit listening ports against an allow-list and name the process behind each one.

``sec.ports`` reads the kernel's socket tables (``/proc/net/tcp``, ``tcp6``,
``udp``, ``udp6``) for listening TCP sockets and bound UDP sockets, finds the
owning process of each through ``/proc/*/fd``, and checks every one against an
allow-list of entries like ``22``, ``tcp/443``, ``udp/53``,
``127.0.0.1:6379`` or ``tcp/[::1]:631``. It returns every listener with its
verdict and the unexpected ones separately; loopback-only listeners can be
ignored. No ``ss`` or ``netstat`` needed. It only reads.
"""

from __future__ import annotations

import ipaddress
import os
import re
import struct

import msgspec

from agent_core import ActionContext, Plugin, Risk, action
from plugins.files._common import bad

PLUGIN = Plugin("sec.ports", description=__doc__.splitlines()[0], domain="security")

TABLES = {"tcp": ("/proc/net/tcp", "/proc/net/tcp6"), "udp": ("/proc/net/udp", "/proc/net/udp6")}
_ALLOW = re.compile(r"^(?:(?P<proto>tcp|udp)/)?(?:(?P<addr>\[[0-9a-fA-F:.]+\]|[0-9.]+|\*):)?(?P<port>\d{1,5})$")


class PortsParams(msgspec.Struct, forbid_unknown_fields=True):
    allow: list[str] = []
    ignore_loopback: bool = False
    udp: bool = True


class Listener(msgspec.Struct):
    proto: str
    address: str
    port: int
    loopback: bool
    pid: int | None
    process: str
    allowed: bool


class PortsReport(msgspec.Struct):
    ok: bool
    listeners: list[Listener]
    unexpected: list[Listener]


class Rule(msgspec.Struct, frozen=True):
    proto: str | None
    addr: str | None
    port: int


def parse_allow(entries: list[str]) -> list[Rule]:
    rules = []
    for entry in entries:
        m = _ALLOW.match(entry.strip().lower())
        if not m or not 0 < int(m.group("port")) < 65536:
            raise bad(f"allow: {entry!r} is not like '22', 'tcp/443', 'udp/53' or '127.0.0.1:6379'")
        addr = m.group("addr")
        if addr and addr != "*":
            try:
                addr = str(ipaddress.ip_address(addr.strip("[]")))
            except ValueError:
                raise bad(f"allow: {entry!r} has an invalid address") from None
        rules.append(Rule(proto=m.group("proto"), addr=None if addr in (None, "*") else addr, port=int(m.group("port"))))
    return rules


def _decode_addr(hexaddr: str) -> str:
    raw = bytes.fromhex(hexaddr)
    # The kernel prints each 32-bit word in host (little-endian) order.
    words = struct.unpack("<" + "I" * (len(raw) // 4), raw)
    packed = struct.pack(">" + "I" * len(words), *words)
    addr = ipaddress.ip_address(packed)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return str(addr.ipv4_mapped)
    return str(addr)


def socket_owners() -> dict[int, tuple[int, str]]:
    """``{socket inode: (pid, comm)}`` from every process's open descriptors."""
    owners: dict[int, tuple[int, str]] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        comm = ""
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                if not comm:
                    try:
                        with open(f"/proc/{pid}/comm") as fh:
                            comm = fh.read().strip()
                    except OSError:
                        comm = "?"
                owners.setdefault(int(target[8:-1]), (int(pid), comm))
    return owners


def listening_sockets(udp: bool = True) -> list[tuple[str, str, int, int]]:
    """``(proto, address, port, inode)`` for every listening TCP / bound UDP socket."""
    out = []
    for proto, files in TABLES.items():
        if proto == "udp" and not udp:
            continue
        for path in files:
            try:
                with open(path) as fh:
                    rows = fh.read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                f = row.split()
                local, remote, state, inode = f[1], f[2], f[3], int(f[9])
                # TCP: state 0A is LISTEN. UDP: 07 is unconnected; a connected UDP socket has a peer port.
                if proto == "tcp" and state != "0A":
                    continue
                if proto == "udp" and (state != "07" or not remote.endswith(":0000")):
                    continue
                host, port = local.rsplit(":", 1)
                out.append((proto, _decode_addr(host), int(port, 16), inode))
    return sorted(set(out), key=lambda x: (x[0], x[2], x[1]))


def _allowed(rules: list[Rule], proto: str, addr: str, port: int) -> bool:
    return any(
        r.port == port and (r.proto is None or r.proto == proto) and (r.addr is None or r.addr == addr)
        for r in rules
    )


def _is_loopback(addr: str) -> bool:
    return ipaddress.ip_address(addr).is_loopback


@action("sec.ports", risk=Risk.READ, timeout=30)
async def ports(ctx: ActionContext, p: PortsParams) -> PortsReport:
    """Listening ports with their process, checked against the ``allow`` list."""
    rules = parse_allow(p.allow)
    owners = socket_owners()
    listeners = []
    for proto, addr, port, inode in listening_sockets(p.udp):
        pid, comm = owners.get(inode, (None, ""))
        loop = _is_loopback(addr)
        allowed = _allowed(rules, proto, addr, port) or (p.ignore_loopback and loop)
        listeners.append(Listener(proto=proto, address=addr, port=port, loopback=loop, pid=pid, process=comm, allowed=allowed))
    unexpected = [x for x in listeners if not x.allowed]
    return PortsReport(ok=not unexpected, listeners=listeners, unexpected=unexpected)
