"""Open TCP/UDP connections with queue sizes, state counts and top peers.

``net.connections`` reads the kernel socket tables (``/proc/net/tcp``,
``tcp6``, ``udp``, ``udp6``) of the agent's namespace and lists connections
(not listeners) with local and remote endpoints, state, send/receive queue
bytes (a growing queue means a stuck peer or application) and, on request,
the owning process. It also counts connections per state and per remote
address, so a flood of CLOSE_WAIT or one client holding thousands of
connections stands out. Reads ``/proc`` only.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, action
from agent_core.procfs import TCP_STATES, SockRow, read_sockets, socket_owners

from ._common import check_address

PLUGIN = Plugin(
    "net.connections",
    domain="network",
    requires_files=["/proc/net/tcp"],
)

_STATES = {*TCP_STATES.values()} - {"LISTEN"}


class ConnectionsParams(msgspec.Struct, forbid_unknown_fields=True):
    proto: str = "tcp"
    """``tcp``, ``udp`` or ``any``."""
    state: str | None = None
    port: Annotated[int, msgspec.Meta(gt=0, lt=65536)] | None = None
    """Local or remote port."""
    remote: str | None = None
    """Only connections to/from this IP address."""
    processes: bool = False
    """Resolve the owning pid and process name (scans ``/proc/*/fd``)."""
    limit: Annotated[int, msgspec.Meta(gt=0, le=100_000)] = 1000


class Connection(msgspec.Struct):
    proto: str
    local: str
    local_port: int
    remote: str
    remote_port: int
    state: str
    send_queue: int
    recv_queue: int
    uid: int
    pid: int | None = None
    process: str = ""


class Connections(msgspec.Struct):
    connections: list[Connection]
    total: int
    truncated: bool
    by_state: dict[str, int]
    top_remotes: dict[str, int]
    """The ten remote addresses with the most connections."""


def _wanted(row: SockRow, p: ConnectionsParams, state: str | None, remote: str | None) -> bool:
    if row.state in ("LISTEN", "UNCONN"):
        return False
    if state is not None and row.state != state:
        return False
    if p.port is not None and p.port not in (row.lport, row.rport):
        return False
    # IPv4-mapped addresses in tcp6 tables (::ffff:a.b.c.d) match the plain IPv4 form.
    return remote is None or row.remote in (remote, f"::ffff:{remote}")


@action("net.connections", risk=Risk.READ, timeout=30)
async def connections(ctx: ActionContext, p: ConnectionsParams) -> Connections:
    """Connections with endpoints, state and queue bytes, counted per state and remote."""

    protos = {
        "tcp": ("tcp", "tcp6"),
        "udp": ("udp", "udp6"),
        "any": ("tcp", "tcp6", "udp", "udp6"),
    }.get(p.proto)
    if protos is None:
        raise InvalidParams(f"proto: {p.proto!r} is not one of tcp, udp, any")
    state = p.state.upper() if p.state else None
    if state is not None and state not in _STATES:
        raise InvalidParams(f"state: {p.state!r} is not a connection state ({', '.join(sorted(_STATES))})")
    remote = str(check_address(p.remote, "remote")) if p.remote else None
    rows = [
        r
        for r in await ctx.to_thread(read_sockets, protos)
        if _wanted(r, p, state, remote)
    ]
    owners = await ctx.to_thread(socket_owners) if p.processes else {}
    out = []
    for r in rows[: p.limit]:
        pid, comm = owners.get(r.inode, (None, ""))
        out.append(
            Connection(
                proto=r.proto,
                local=r.local,
                local_port=r.lport,
                remote=r.remote,
                remote_port=r.rport,
                state=r.state,
                send_queue=r.tx_queue,
                recv_queue=r.rx_queue,
                uid=r.uid,
                pid=pid,
                process=comm,
            )
        )
    return Connections(
        connections=out,
        total=len(rows),
        truncated=len(rows) > p.limit,
        by_state=dict(Counter(r.state for r in rows)),
        top_remotes=dict(Counter(r.remote for r in rows).most_common(10)),
    )
