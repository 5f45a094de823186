"""Neighbour table: ARP (IPv4) and NDP (IPv6) entries and their states.

``net.neigh`` lists which IP addresses the host has resolved to MAC addresses
on each interface, with the kernel's state for each (REACHABLE, STALE, DELAY,
PROBE, FAILED, INCOMPLETE, PERMANENT, NOARP) and whether the neighbour is a
router. FAILED entries point at a dead peer or a VLAN problem. Uses
``ip -j neigh`` (also in a named network namespace); without iproute2 it falls
back to ``/proc/net/arp`` for IPv4. Changes nothing.
"""

from __future__ import annotations

import shutil

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, Unavailable, action

from ._common import check_family, ip_json, require_iface, require_netns

PLUGIN = Plugin(
    "net.neigh",
    domain="network",
    requires_files=["/proc/net/arp"],
)

_STATES = (
    "REACHABLE",
    "STALE",
    "DELAY",
    "PROBE",
    "FAILED",
    "INCOMPLETE",
    "PERMANENT",
    "NOARP",
    "NONE",
)


class NeighParams(msgspec.Struct, forbid_unknown_fields=True):
    iface: str | None = None
    family: str = "any"
    state: str | None = None
    """Only entries in this state, e.g. ``FAILED``."""
    netns: str | None = None


class Neighbour(msgspec.Struct):
    address: str
    family: str
    iface: str
    mac: str
    state: str
    router: bool = False


class Neighbours(msgspec.Struct):
    neighbours: list[Neighbour]
    source: str
    """``ip`` or ``/proc/net/arp``."""


def _from_proc() -> list[Neighbour]:
    out: list[Neighbour] = []
    with open("/proc/net/arp") as fh:
        next(fh, None)
        for line in fh:
            f = line.split()
            if len(f) < 6:
                continue
            flags = int(f[2], 16)
            state = "PERMANENT" if flags & 0x4 else "REACHABLE" if flags & 0x2 else "INCOMPLETE"
            out.append(
                Neighbour(
                    address=f[0],
                    family="inet",
                    iface=f[5],
                    mac=f[3] if flags & 0x2 else "",
                    state=state,
                )
            )
    return out


@action("net.neigh", risk=Risk.READ, timeout=10)
async def neigh(ctx: ActionContext, p: NeighParams) -> Neighbours:
    """ARP/NDP entries with MAC and state, filtered by interface, family or state."""
    check_family(p.family)
    state = p.state.upper() if p.state else None
    if state is not None and state not in _STATES:
        raise InvalidParams(f"state: {p.state!r} is not one of {', '.join(_STATES)}")
    netns = require_netns(p.netns)
    if p.iface is not None and netns is None:
        require_iface(p.iface)
    if shutil.which("ip") is None:
        if netns is not None:
            raise Unavailable("iproute2 (ip) is needed to look into a network namespace")
        found, source = _from_proc(), "/proc/net/arp"
    else:
        found, source = [], "ip"
        for n in await ip_json(ctx, ["neigh", "show"], netns):
            addr = n.get("dst", "")
            states = n.get("state") or ["NONE"]
            found.append(
                Neighbour(
                    address=addr,
                    family="inet6" if ":" in addr else "inet",
                    iface=n.get("dev", ""),
                    mac=n.get("lladdr", ""),
                    state=str(states[0]),
                    router="router" in n,
                )
            )
    found = [
        n
        for n in found
        if (p.iface is None or n.iface == p.iface)
        and (p.family == "any" or n.family == p.family)
        and (state is None or n.state == state)
    ]
    return Neighbours(neighbours=found, source=source)
