"""IP addresses configured on the host, with scope and lifetimes.

``net.addresses`` lists the IPv4 and IPv6 addresses of every interface as the
kernel holds them (``ip -j address``): prefix length, scope (global, link,
host), broadcast, label, whether the address is secondary, dynamic (DHCP or
SLAAC), tentative or deprecated, and its remaining valid and preferred
lifetimes. Filter by interface, family or scope; optionally inside a named
network namespace. Needs ``ip`` (iproute2); changes nothing.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, action

from ._common import check_family, ip_json, require_iface, require_netns

PLUGIN = Plugin(
    "net.addresses", domain="network", requires=["ip"]
)

_SCOPES = ("any", "global", "link", "host", "site")
_FOREVER = 4294967295


class AddressesParams(msgspec.Struct, forbid_unknown_fields=True):
    iface: str | None = None
    family: str = "any"
    scope: str = "any"
    netns: str | None = None


class IpAddress(msgspec.Struct):
    iface: str
    family: str
    address: str
    prefixlen: int
    scope: str
    label: str = ""
    broadcast: str = ""
    peer: str = ""
    secondary: bool = False
    dynamic: bool = False
    tentative: bool = False
    deprecated: bool = False
    valid_lifetime: int | None = None
    """Seconds left, ``None`` for forever."""
    preferred_lifetime: int | None = None


class Addresses(msgspec.Struct):
    addresses: list[IpAddress]


def _lifetime(value: object) -> int | None:
    if not isinstance(value, int) or value >= _FOREVER:
        return None
    return value


@action("net.addresses", risk=Risk.READ, timeout=10)
async def addresses(ctx: ActionContext, p: AddressesParams) -> Addresses:
    """IPv4/IPv6 addresses with prefix, scope, flags and lifetimes, filtered by iface/family/scope."""
    check_family(p.family)
    if p.scope not in _SCOPES:
        raise InvalidParams(f"scope: {p.scope!r} is not one of {', '.join(_SCOPES)}")
    netns = require_netns(p.netns)
    args = ["address", "show"]
    if p.iface is not None:
        if netns is None:
            require_iface(p.iface)
        args += ["dev", p.iface]
    out: list[IpAddress] = []
    for link in await ip_json(ctx, args, netns):
        for a in link.get("addr_info", []):
            fam = a.get("family", "")
            if p.family != "any" and fam != p.family:
                continue
            if p.scope != "any" and a.get("scope") != p.scope:
                continue
            out.append(
                IpAddress(
                    iface=link.get("ifname", ""),
                    family=fam,
                    address=a.get("local", ""),
                    prefixlen=int(a.get("prefixlen", 0)),
                    scope=str(a.get("scope", "")),
                    label=a.get("label", ""),
                    broadcast=a.get("broadcast", ""),
                    peer=a.get("address", "") if a.get("address") != a.get("local") else "",
                    secondary=bool(a.get("secondary")),
                    dynamic=bool(a.get("dynamic")),
                    tentative=bool(a.get("tentative")),
                    deprecated=bool(a.get("deprecated")),
                    valid_lifetime=_lifetime(a.get("valid_life_time")),
                    preferred_lifetime=_lifetime(a.get("preferred_life_time")),
                )
            )
    return Addresses(addresses=out)
