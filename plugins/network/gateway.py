"""The default gateways, and whether each one looks reachable.

``net.gateway`` finds the IPv4 and IPv6 default routes in the kernel table
(``/proc/net/route``, ``/proc/net/ipv6_route``), names the one in use (lowest
metric), and for each gateway says whether it lies inside a subnet connected
to its interface (a gateway outside every connected subnet is a classic
misconfiguration) and what the neighbour table knows of it: its MAC address
and the ARP/NDP state. Reads ``/proc``; asks ``ip neigh`` for IPv6 neighbours
when iproute2 is installed. Sends nothing.
"""

from __future__ import annotations

import ipaddress
import shutil

import msgspec

from agent_core import ActionContext, Plugin, Risk, action

from ._common import Route, check_family, ip_json, read_ipv4_routes, read_ipv6_routes

PLUGIN = Plugin(
    "net.gateway",
    domain="network",
    requires_files=["/proc/net/route"],
)

# /proc/net/arp flags: ATF_COM (0x2) = the entry is complete, ATF_PERM (0x4) = static.
_ATF_COM = 0x2


class GatewayParams(msgspec.Struct, forbid_unknown_fields=True):
    family: str = "any"


class Gateway(msgspec.Struct):
    family: str
    gateway: str
    iface: str
    metric: int
    primary: bool
    """The route the kernel uses: lowest metric of its family."""
    on_link: bool
    """The gateway lies in a subnet connected to ``iface``."""
    mac: str = ""
    neighbour_state: str = ""


class Gateways(msgspec.Struct):
    gateways: list[Gateway]
    problems: list[str]


def _arp() -> dict[tuple[str, str], tuple[str, str]]:
    out: dict[tuple[str, str], tuple[str, str]] = {}
    try:
        with open("/proc/net/arp") as fh:
            next(fh, None)
            for line in fh:
                f = line.split()
                if len(f) >= 6:
                    flags = int(f[2], 16)
                    state = (
                        ("PERMANENT" if flags & 0x4 else "COMPLETE")
                        if flags & _ATF_COM
                        else "INCOMPLETE"
                    )
                    out[(f[0], f[5])] = (f[3] if flags & _ATF_COM else "", state)
    except FileNotFoundError:
        pass
    return out


async def _ndp(ctx: ActionContext) -> dict[tuple[str, str], tuple[str, str]]:
    if shutil.which("ip") is None:
        return {}
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for n in await ip_json(ctx, ["-6", "neigh", "show"]):
        state = n.get("state") or [""]
        out[(n.get("dst", ""), n.get("dev", ""))] = (n.get("lladdr", ""), str(state[0]))
    return out


def _on_link(gw: str, iface: str, connected: list[Route]) -> bool:
    addr = ipaddress.ip_address(gw)
    if addr.is_link_local:
        return True  # IPv6 routers are normally reached on fe80::/64
    for r in connected:
        if r.iface != iface or r.gateway:
            continue
        net = ipaddress.ip_network(r.destination, strict=False)
        if net.prefixlen > 0 and net.version == addr.version and addr in net:
            return True
    return False


@action("net.gateway", risk=Risk.READ, timeout=10)
async def gateway(ctx: ActionContext, p: GatewayParams) -> Gateways:
    """Default gateways with the primary one marked, on-link check and neighbour MAC/state."""
    check_family(p.family)
    tables = []
    if p.family in ("any", "inet"):
        tables.append(("inet", read_ipv4_routes(), _arp()))
    if p.family in ("any", "inet6"):
        tables.append(("inet6", read_ipv6_routes(), await _ndp(ctx)))
    gateways: list[Gateway] = []
    problems: list[str] = []
    for family, routes, neigh in tables:
        defaults = sorted(
            (
                r
                for r in routes
                if r.destination.endswith("/0") and r.gateway and r.type == "unicast"
            ),
            key=lambda r: r.metric,
        )
        for i, r in enumerate(defaults):
            mac, state = neigh.get((r.gateway, r.iface), ("", ""))
            gw = Gateway(
                family=family,
                gateway=r.gateway,
                iface=r.iface,
                metric=r.metric,
                primary=i == 0,
                on_link=_on_link(r.gateway, r.iface, routes),
                mac=mac,
                neighbour_state=state,
            )
            if not gw.on_link:
                problems.append(
                    f"{family} gateway {gw.gateway} is outside every subnet of {gw.iface}"
                )
            if state in ("FAILED", "INCOMPLETE"):
                problems.append(f"{family} gateway {gw.gateway} does not answer ARP/NDP ({state})")
            gateways.append(gw)
        if family == "inet" and not defaults:
            problems.append("no IPv4 default route")
    return Gateways(gateways=gateways, problems=problems)
