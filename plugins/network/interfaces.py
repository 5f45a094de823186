"""Inventory of the host's network interfaces with their addresses.

``net.interfaces`` lists every interface of the agent's network namespace from
``/sys/class/net``: index, MAC address, MTU, operational state, kernel flags,
what kind of device it is (physical, loopback, bridge, bond, vlan, virtual),
the bridge or bond it is enslaved to, and its IPv4/IPv6 addresses. It reads
``/sys`` and asks the kernel for addresses; nothing is run and nothing changes.
"""

from __future__ import annotations

import os

import msgspec

from agent_core import ActionContext, Plugin, Risk, action

from ._common import SYS_NET, read_int, read_text, require_iface

PLUGIN = Plugin(
    "net.interfaces",
    domain="network",
    requires_files=[SYS_NET],
)

# include/uapi/linux/if.h
_FLAGS = [
    (0x1, "UP"),
    (0x2, "BROADCAST"),
    (0x4, "DEBUG"),
    (0x8, "LOOPBACK"),
    (0x10, "POINTOPOINT"),
    (0x40, "RUNNING"),
    (0x80, "NOARP"),
    (0x100, "PROMISC"),
    (0x200, "ALLMULTI"),
    (0x400, "MASTER"),
    (0x800, "SLAVE"),
    (0x1000, "MULTICAST"),
]


class InterfacesParams(msgspec.Struct, forbid_unknown_fields=True):
    iface: str | None = None
    """Only this interface (default: all)."""
    addresses: bool = True
    """Include IP addresses."""


class Address(msgspec.Struct):
    family: str
    address: str
    prefixlen: int


class Interface(msgspec.Struct):
    name: str
    index: int
    mac: str
    mtu: int
    state: str
    up: bool
    flags: list[str]
    kind: str
    master: str = ""
    addresses: list[Address] = []


class Interfaces(msgspec.Struct):
    interfaces: list[Interface]


def _kind(path: str, name: str, arp_type: int | None) -> str:
    if arp_type == 772:
        return "loopback"
    for sub, kind in (
        ("bridge", "bridge"),
        ("bonding", "bond"),
        ("wireless", "wireless"),
        ("phy80211", "wireless"),
    ):
        if os.path.exists(os.path.join(path, sub)):
            return kind
    if os.path.exists(f"/proc/net/vlan/{name}"):
        return "vlan"
    if arp_type in (768, 776, 778, 65534):  # ipip, sit, gre, none (tun, wireguard)
        return "tunnel"
    if os.path.exists(os.path.join(path, "device")):
        return "physical"
    return "virtual"


def _prefixlen(netmask: str | None, family: int) -> int:
    import socket

    if not netmask:
        return 32 if family == socket.AF_INET else 128
    try:
        packed = socket.inet_pton(family, netmask.split("/")[0])
    except OSError:
        return 0
    return sum(bin(b).count("1") for b in packed)


def _addresses() -> dict[str, list[Address]]:
    import socket

    import psutil

    out: dict[str, list[Address]] = {}
    for name, addrs in psutil.net_if_addrs().items():
        for a in addrs:
            if a.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            fam = "inet" if a.family == socket.AF_INET else "inet6"
            out.setdefault(name, []).append(
                Address(
                    family=fam,
                    address=a.address.split("%")[0],
                    prefixlen=_prefixlen(a.netmask, a.family),
                )
            )
    return out


def _interface(name: str, addrs: dict[str, list[Address]]) -> Interface:
    path = os.path.join(SYS_NET, name)
    flags = read_int(os.path.join(path, "flags"), 0) or 0
    master = os.path.join(path, "master")
    return Interface(
        name=name,
        index=read_int(os.path.join(path, "ifindex"), 0) or 0,
        mac=read_text(os.path.join(path, "address"), "") or "",
        mtu=read_int(os.path.join(path, "mtu"), 0) or 0,
        state=read_text(os.path.join(path, "operstate"), "unknown") or "unknown",
        up=bool(flags & 0x1),
        flags=[label for bit, label in _FLAGS if flags & bit],
        kind=_kind(path, name, read_int(os.path.join(path, "type"))),
        master=os.path.basename(os.readlink(master)) if os.path.islink(master) else "",
        addresses=addrs.get(name, []),
    )


def _collect(names: list[str] | None, with_addresses: bool) -> list[Interface]:
    addrs = _addresses() if with_addresses else {}
    names = names if names is not None else os.listdir(SYS_NET)
    found = [_interface(n, addrs) for n in names if os.path.isdir(os.path.join(SYS_NET, n))]
    return sorted(found, key=lambda i: i.index)


@action("net.interfaces", risk=Risk.READ, timeout=10)
async def interfaces(ctx: ActionContext, p: InterfacesParams) -> Interfaces:
    """Every network interface: index, MAC, MTU, state, flags, kind, master and addresses."""
    names = [require_iface(p.iface)] if p.iface is not None else None
    return Interfaces(interfaces=_collect(names, p.addresses))
