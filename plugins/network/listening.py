"""Listening ports and the processes that own them.

``net.listening`` lists every TCP socket in LISTEN state and every unconnected
UDP socket, with the bound address and port, the owning process (pid, name,
user, command line) and whether it is reachable from outside (bound to a
wildcard or a non-loopback address). It answers "what is listening on port
8080?" and "which services are exposed?". Reads the kernel socket tables
through psutil; sockets of processes the agent may not inspect show no pid.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, action

PLUGIN = Plugin(
    "net.listening",
    domain="network",
    requires_files=["/proc/net/tcp"],
)


class ListeningParams(msgspec.Struct, forbid_unknown_fields=True):
    port: Annotated[int, msgspec.Meta(gt=0, lt=65536)] | None = None
    proto: str = "any"
    """``tcp``, ``udp`` or ``any``."""
    exposed_only: bool = False
    """Only sockets bound to a wildcard or non-loopback address."""


class Listener(msgspec.Struct):
    proto: str
    family: str
    address: str
    port: int
    exposed: bool
    pid: int | None = None
    process: str = ""
    user: str = ""
    cmdline: list[str] = []


class Listeners(msgspec.Struct):
    listeners: list[Listener]


def _exposed(addr: str) -> bool:
    import ipaddress

    try:
        return not ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return True


def _owner(
    pid: int | None, cache: dict[int, tuple[str, str, list[str]]]
) -> tuple[str, str, list[str]]:
    import psutil

    if pid is None:
        return "", "", []
    if pid not in cache:
        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                cache[pid] = (proc.name(), proc.username(), proc.cmdline())
        except psutil.Error:
            cache[pid] = ("", "", [])
    return cache[pid]


@action("net.listening", risk=Risk.READ, timeout=20)
async def listening(ctx: ActionContext, p: ListeningParams) -> Listeners:
    """TCP listeners and unconnected UDP sockets with their owning process."""
    import socket

    import psutil

    if p.proto not in ("any", "tcp", "udp"):
        raise InvalidParams(f"proto: {p.proto!r} is not one of any, tcp, udp")
    kind = "inet" if p.proto == "any" else p.proto
    cache: dict[int, tuple[str, str, list[str]]] = {}
    out: list[Listener] = []
    # A host with many sockets takes a while to scan: keep the event loop free.
    conns = await ctx.to_thread(psutil.net_connections, kind)
    for c in conns:
        is_tcp = c.type == socket.SOCK_STREAM
        if is_tcp and c.status != psutil.CONN_LISTEN:
            continue
        if not is_tcp and c.raddr:
            continue
        if not c.laddr or (p.port is not None and c.laddr.port != p.port):
            continue
        exposed = _exposed(c.laddr.ip)
        if p.exposed_only and not exposed:
            continue
        name, user, cmdline = _owner(c.pid, cache)
        out.append(
            Listener(
                proto="tcp" if is_tcp else "udp",
                family="inet6" if c.family == socket.AF_INET6 else "inet",
                address=c.laddr.ip,
                port=c.laddr.port,
                exposed=exposed,
                pid=c.pid,
                process=name,
                user=user,
                cmdline=cmdline,
            )
        )
    out.sort(key=lambda x: (x.proto, x.port, x.address))
    return Listeners(listeners=out)
