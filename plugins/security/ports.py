"""Audit listening ports against an allow-list and name the process behind each one.

``sec.ports`` takes the listening TCP sockets and bound UDP sockets from the
sockets front-end (``net.sockets``: the kernel's tables through ``/proc/net``,
or psutil, or ``ss``) with the owning process of each, and checks every one against an
allow-list of entries like ``22``, ``tcp/443``, ``udp/53``,
``127.0.0.1:6379`` or ``tcp/[::1]:631``. It returns every listener with its
verdict and the unexpected ones separately; loopback-only listeners can be
ignored. No ``ss`` or ``netstat`` needed. It only reads.
"""

from __future__ import annotations

import ipaddress
import re

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, action
from plugins.network import read_sockets

PLUGIN = Plugin("sec.ports", domain="security")

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
            raise InvalidParams(f"allow: {entry!r} is not like '22', 'tcp/443', 'udp/53' or '127.0.0.1:6379'")
        addr = m.group("addr")
        if addr and addr != "*":
            try:
                addr = str(ipaddress.ip_address(addr.strip("[]")))
            except ValueError:
                raise InvalidParams(f"allow: {entry!r} has an invalid address") from None
        rules.append(Rule(proto=m.group("proto"), addr=None if addr in (None, "*") else addr, port=int(m.group("port"))))
    return rules


def listening_sockets(udp: bool = True) -> list[tuple[str, str, int, int | None, str]]:
    """``(proto, address, port, pid, process)`` for every listening TCP / bound UDP socket."""
    _, rows = read_sockets(("tcp", "udp") if udp else ("tcp",))
    out = {(s.proto, s.local, s.local_port, s.pid, s.process) for s in rows if s.listening}
    return sorted(out, key=lambda x: (x[0], x[2], x[1], x[3] or 0))


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
    listeners = []
    for proto, addr, port, pid, comm in await ctx.to_thread(listening_sockets, p.udp):
        loop = _is_loopback(addr)
        allowed = _allowed(rules, proto, addr, port) or (p.ignore_loopback and loop)
        listeners.append(Listener(proto=proto, address=addr, port=port, loopback=loop, pid=pid, process=comm, allowed=allowed))
    unexpected = [x for x in listeners if not x.allowed]
    return PortsReport(ok=not unexpected, listeners=listeners, unexpected=unexpected)
