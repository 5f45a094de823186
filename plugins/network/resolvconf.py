"""DNS resolver configuration from ``/etc/resolv.conf``, parsed and checked.

``net.resolvconf`` returns the nameservers, search domains and options
(``ndots``, ``timeout``, ``attempts``, ``rotate``...) the C library will use,
who manages the file (systemd-resolved, NetworkManager, resolvconf, or
nobody), and the mistakes glibc silently tolerates: more than three
nameservers (the rest are ignored), more than six search domains, unknown
keywords, and a loopback stub resolver with nothing listening behind it.
Reads files only.
"""

from __future__ import annotations

import ipaddress
import os

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, action

from ._common import read_config

PLUGIN = Plugin("net.resolvconf", domain="network")

_MAXNS = 3  # glibc MAXNS
_MAXDNSRCH = 6
_KEYWORDS = ("nameserver", "search", "domain", "options", "sortlist")


class ResolvParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str = "/etc/resolv.conf"


class ResolvConf(msgspec.Struct):
    path: str
    nameservers: list[str]
    search: list[str]
    options: dict[str, str]
    """``ndots: "2"``, ``rotate: ""`` ..."""
    sortlist: list[str]
    managed_by: str
    link_target: str
    problems: list[str]


def _manager(text: str, target: str) -> str:
    if "systemd" in target or "systemd-resolved" in text:
        return "systemd-resolved"
    if "NetworkManager" in text:
        return "NetworkManager"
    if "resolvconf" in target or "resolvconf" in text:
        return "resolvconf"
    if "netconfig" in text:
        return "netconfig"
    return "none"


def parse_resolv(text: str) -> tuple[list[str], list[str], dict[str, str], list[str], list[str]]:
    servers: list[str] = []
    search: list[str] = []
    options: dict[str, str] = {}
    sortlist: list[str] = []
    problems: list[str] = []
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        key, *values = line.split()
        if key == "nameserver":
            if not values:
                problems.append(f"line {no}: nameserver without an address")
                continue
            try:
                ipaddress.ip_address(values[0].split("%")[0])
            except ValueError:
                problems.append(f"line {no}: nameserver {values[0]!r} is not an IP address")
                continue
            servers.append(values[0])
        elif key in ("search", "domain"):
            # The last search/domain line wins; glibc does not merge them.
            search = values
        elif key == "options":
            for opt in values:
                name, _, value = opt.partition(":")
                options[name] = value
        elif key == "sortlist":
            sortlist = values
        else:
            problems.append(f"line {no}: unknown keyword {key!r}")
    if len(servers) > _MAXNS:
        problems.append(
            f"{len(servers)} nameservers: only the first {_MAXNS} are used ({', '.join(servers[_MAXNS:])} ignored)"
        )
    if len(search) > _MAXDNSRCH:
        problems.append(
            f"{len(search)} search domains: older glibc uses only the first {_MAXDNSRCH}"
        )
    if not servers:
        problems.append("no nameserver: the resolver falls back to 127.0.0.1")
    return servers, search, options, sortlist, problems


def _link_target(path: str) -> str:
    return os.path.realpath(path) if os.path.islink(path) else ""


def _stub_listening(address: str) -> bool:
    """Is anything bound to UDP/53 on this loopback address (or the wildcard)?"""
    # /proc/net/udp prints IPv4 addresses as host-order (little-endian) hex.
    hexaddr = "".join(f"{int(x):02X}" for x in reversed(address.split(".")))
    try:
        with open("/proc/net/udp") as fh:
            next(fh, None)
            for line in fh:
                local = line.split()[1]
                addr, _, port = local.partition(":")
                if int(port, 16) == 53 and addr in (hexaddr, "00000000"):
                    return True
    except OSError:
        return True  # cannot tell: do not cry wolf
    return False


@action("net.resolvconf", risk=Risk.READ, timeout=10)
async def resolvconf(ctx: ActionContext, p: ResolvParams) -> ResolvConf:
    """Nameservers, search list, options, managing service and configuration problems."""
    if not os.path.isabs(p.path):
        raise InvalidParams(f"path: {p.path!r} is not an absolute path")
    text = read_config(p.path)
    target = _link_target(p.path)
    servers, search, options, sortlist, problems = parse_resolv(text)
    for s in servers[:_MAXNS]:
        ip = ipaddress.ip_address(s.split("%")[0])
        if ip.version == 4 and ip.is_loopback and not _stub_listening(s):
            problems.append(f"nameserver {s} is a loopback stub but nothing listens on {s}:53/udp")
    return ResolvConf(
        path=p.path,
        nameservers=servers,
        search=search,
        options=options,
        sortlist=sortlist,
        managed_by=_manager(text, target),
        link_target=target,
        problems=problems,
    )
