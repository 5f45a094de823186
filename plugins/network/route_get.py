"""Which route, interface, gateway and source address reach a destination.

``net.route.get`` asks the kernel (``ip -j route get``) how it would send a
packet to an address right now, after policy rules, VRFs and every table are
taken into account: the outgoing interface, the next-hop gateway (empty when
the destination is on-link), the source address it would pick, the table and
the route type. No packet is sent. Optionally pin the source address or the
outgoing interface, or ask inside a named network namespace. Needs ``ip``.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, ActionError, InvalidParams, Plugin, Risk, action

from ._common import check_address, check_ifname, ip_json, require_netns

PLUGIN = Plugin(
    "net.route.get", domain="network", requires=["ip"]
)


class RouteGetParams(msgspec.Struct, forbid_unknown_fields=True):
    destination: str
    source: str | None = None
    oif: str | None = None
    netns: str | None = None


class RouteDecision(msgspec.Struct):
    destination: str
    reachable: bool
    type: str
    iface: str = ""
    gateway: str = ""
    source: str = ""
    table: str = ""
    error: str = ""
    """The kernel's answer when it has no route (``Network is unreachable``)."""


@action("net.route.get", risk=Risk.READ, timeout=10)
async def route_get(ctx: ActionContext, p: RouteGetParams) -> RouteDecision:
    """The interface, gateway and source the kernel would use to reach ``destination``."""
    dest = check_address(p.destination, "destination")
    args = ["route", "get", str(dest)]
    if p.source is not None:
        src = check_address(p.source, "source")
        if src.version != dest.version:
            raise InvalidParams(
                "source and destination are of different IP families"
            )
        args += ["from", str(src)]
    if p.oif is not None:
        args += ["oif", check_ifname(p.oif)]
    netns = require_netns(p.netns)
    try:
        routes = await ip_json(ctx, args, netns)
    except ActionError as exc:
        text = str(exc)
        if "unreachable" in text.lower() or "no route" in text.lower():
            return RouteDecision(
                destination=str(dest),
                reachable=False,
                type="unreachable",
                error=text.split(": ")[-1],
            )
        raise
    r = routes[0] if routes else {}
    kind = r.get("type", "unicast")
    return RouteDecision(
        destination=str(dest),
        reachable=kind not in ("unreachable", "prohibit", "blackhole"),
        type=kind,
        iface=r.get("dev", ""),
        gateway=r.get("gateway", ""),
        source=r.get("prefsrc", ""),
        table=str(r.get("table", "main")),
    )
