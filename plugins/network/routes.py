"""The kernel routing table, IPv4 and IPv6.

``net.routes`` reads ``/proc/net/route`` and ``/proc/net/ipv6_route`` directly
(no ``ip`` binary needed): destination network, gateway, interface, metric,
flags, route type and MTU, so an operator can see where traffic for a network
goes and spot a missing or duplicate default route. IPv6 local and multicast
routes (the kernel's ``local`` table) are left out unless asked for.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, Plugin, Risk, action

from ._common import Route, check_family, check_ifname, read_ipv4_routes, read_ipv6_routes

PLUGIN = Plugin(
    "net.routes",
    domain="network",
    requires_files=["/proc/net/route"],
)


class RoutesParams(msgspec.Struct, forbid_unknown_fields=True):
    family: str = "any"
    iface: str | None = None
    include_local: bool = False
    """Also list IPv6 local and multicast routes."""


class Routes(msgspec.Struct):
    routes: list[Route]
    default_routes: int


@action("net.routes", risk=Risk.READ, timeout=10)
async def routes(ctx: ActionContext, p: RoutesParams) -> Routes:
    """Routes with destination, gateway, interface, metric, flags and type."""
    check_family(p.family)
    if p.iface is not None:
        check_ifname(p.iface)
    found: list[Route] = []
    if p.family in ("any", "inet"):
        found += read_ipv4_routes()
    if p.family in ("any", "inet6"):
        found += [
            r for r in read_ipv6_routes() if p.include_local or r.type not in ("local", "multicast")
        ]
    if p.iface is not None:
        found = [r for r in found if r.iface == p.iface]
    defaults = sum(
        1 for r in found if r.destination in ("0.0.0.0/0", "::/0") and r.type == "unicast"
    )
    return Routes(routes=found, default_routes=defaults)
