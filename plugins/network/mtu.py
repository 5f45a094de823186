"""Read and set interface MTUs, within the limits the driver allows.

``net.mtu`` lists each interface's MTU with the smallest and largest value its
driver accepts, and flags interfaces whose MTU differs from their bridge or
bond master (a classic cause of dropped large packets). ``net.mtu.set``
changes one interface's MTU with ``ip link set``, refusing values outside the
driver's range before touching anything, and reads the value back. Both work
on the agent's namespace or a named one (``ip netns``). Needs ``ip``.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, InvalidParams, Plugin, Risk, action

from ._common import check_ifname, ip_json, require_iface, require_netns

PLUGIN = Plugin("net.mtu", domain="network", requires=["ip"])


class MtuParams(msgspec.Struct, forbid_unknown_fields=True):
    iface: str | None = None
    netns: str | None = None


class SetMtuParams(msgspec.Struct, forbid_unknown_fields=True):
    iface: str
    mtu: Annotated[int, msgspec.Meta(ge=68)]
    netns: str | None = None


class Mtu(msgspec.Struct):
    iface: str
    mtu: int
    min_mtu: int | None
    max_mtu: int | None
    master: str = ""


class Mtus(msgspec.Struct):
    interfaces: list[Mtu]
    mismatches: list[str]


class MtuChange(msgspec.Struct):
    iface: str
    old_mtu: int
    mtu: int
    changed: bool


def _limit(link: dict[str, Any], key: str) -> int | None:
    value = link.get(key)
    # Loopback and some virtual devices report 0: the driver sets no bound.
    return value if isinstance(value, int) and value > 0 else None


def _mtu(link: dict[str, Any]) -> Mtu:
    return Mtu(
        iface=link.get("ifname", ""),
        mtu=int(link.get("mtu", 0)),
        min_mtu=_limit(link, "min_mtu"),
        max_mtu=_limit(link, "max_mtu"),
        master=link.get("master", ""),
    )


async def _links(ctx: ActionContext, iface: str | None, netns: str | None) -> list[Mtu]:
    if iface is not None:
        if netns is None:
            require_iface(iface)
        else:
            check_ifname(iface)
    args = ["-d", "link", "show", *(["dev", iface] if iface else [])]
    return [_mtu(link) for link in await ip_json(ctx, args, netns)]


@action("net.mtu", risk=Risk.READ, timeout=10)
async def get(ctx: ActionContext, p: MtuParams) -> Mtus:
    """MTU of each interface with the driver's min/max, and mismatches with its master."""
    netns = require_netns(p.netns)
    links = await _links(ctx, p.iface, netns)
    if p.iface is not None:
        # The master may be outside the filter: look at everything to compare.
        every = {m.iface: m for m in await _links(ctx, None, netns)}
    else:
        every = {m.iface: m for m in links}
    mismatches = [
        f"{m.iface}: mtu {m.mtu} differs from its master {m.master} (mtu {every[m.master].mtu})"
        for m in links
        if m.master and m.master in every and every[m.master].mtu != m.mtu
    ]
    return Mtus(interfaces=links, mismatches=mismatches)


@action("net.mtu.set", risk=Risk.DANGER, timeout=20)
async def set_mtu(ctx: ActionContext, p: SetMtuParams) -> MtuChange:
    """Set one interface's MTU (checked against the driver's range) and read it back."""
    netns = require_netns(p.netns)
    (before,) = await _links(ctx, p.iface, netns)
    if before.min_mtu is not None and p.mtu < before.min_mtu:
        raise InvalidParams(f"mtu: {p.mtu} is below the minimum {before.min_mtu} of {p.iface}")
    if before.max_mtu is not None and p.mtu > before.max_mtu:
        raise InvalidParams(f"mtu: {p.mtu} is above the maximum {before.max_mtu} of {p.iface}")
    if before.mtu == p.mtu:
        return MtuChange(iface=p.iface, old_mtu=before.mtu, mtu=p.mtu, changed=False)
    argv = [
        "ip",
        *(["-n", netns] if netns else []),
        "link",
        "set",
        "dev",
        p.iface,
        "mtu",
        str(p.mtu),
    ]
    res = await ctx.run(argv)
    if res.exit_code != 0:
        raise ActionError(
            f"ip link set failed: {res.stderr.strip()}", code=ErrorCode.A014, data=res
        )
    (after,) = await _links(ctx, p.iface, netns)
    if after.mtu != p.mtu:
        raise ActionError(
            f"{p.iface}: mtu is {after.mtu} after setting {p.mtu}", code=ErrorCode.A014
        )
    return MtuChange(iface=p.iface, old_mtu=before.mtu, mtu=after.mtu, changed=True)
