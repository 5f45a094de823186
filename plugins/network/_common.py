"""Shared pieces of the network plugins: name checks, ``/proc/net`` decoding,
network namespaces and ``ip -j`` calls.

Not a plugin (no entry point); imported by the ``net.*`` plugins so that each
of them keeps only its own logic.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from typing import Any

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, InvalidParams, NotFound
from agent_core.procfs import hex_ipv4, hex_ipv6_route

SYS_NET = "/sys/class/net"
NETNS_DIR = "/run/netns"

# IFNAMSIZ is 16 including the NUL; '/' and whitespace are refused by the kernel,
# ':' is the old alias syntax that no tool accepts as a device name any more.
_IFNAME = re.compile(r"^[^/\s:]{1,15}$")
_NETNS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


FAMILIES = ("any", "inet", "inet6")


def check_family(family: str) -> str:
    if family not in FAMILIES:
        raise InvalidParams(f"family: {family!r} is not one of {', '.join(FAMILIES)}")
    return family


def check_ifname(name: str) -> str:
    """Refuse a string that can never be an interface name (A002)."""
    if not _IFNAME.match(name) or name in (".", ".."):
        raise InvalidParams(f"iface: {name!r} is not a valid interface name")
    return name


def require_iface(name: str) -> str:
    """The interface must be valid and exist in the agent's namespace (A002/A017)."""
    check_ifname(name)
    if not os.path.isdir(os.path.join(SYS_NET, name)):
        raise NotFound(f"no network interface named {name!r} on this host")
    return name


def require_netns(name: str | None) -> str | None:
    """A named network namespace (``ip netns``) must exist; ``None`` is the agent's own."""
    if name is None:
        return None
    if not _NETNS.match(name):
        raise InvalidParams(f"netns: {name!r} is not a valid namespace name")
    if not os.path.exists(os.path.join(NETNS_DIR, name)):
        raise NotFound(f"no network namespace named {name!r} (see `ip netns list`)")
    return name


def check_address(
    value: str, field: str = "address"
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise InvalidParams(f"{field}: {value!r} is not an IPv4 or IPv6 address") from None


_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def check_hostname(value: str, field: str = "host") -> str:
    """An IP address or a DNS name (RFC 1123 labels, ``_`` tolerated); never an option."""
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    name = value[:-1] if value.endswith(".") else value
    if not name or len(name) > 253 or not all(_LABEL.match(part) for part in name.split(".")):
        raise InvalidParams(f"{field}: {value!r} is not a valid host name or address")
    return value


def read_text(path: str, default: str | None = None) -> str | None:
    """Read a small ``/proc`` or ``/sys`` file; some attributes raise EINVAL when
    the link is down, which means "unknown" here, not an error."""
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return default


def read_int(path: str, default: int | None = None) -> int | None:
    text = read_text(path)
    if text is None:
        return default
    try:
        return int(text, 0)
    except ValueError:
        return default


async def run_tool(ctx: ActionContext, argv: list[str], netns: str | None = None) -> str:
    """Run a firewall tool's ``argv`` (in ``netns`` through ``ip netns exec`` when given) in
    the C locale and return its output: A016 when it needs root, A017 for a missing
    table or namespace, A008 for any other failure."""
    tool = argv[0]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    res = await ctx.run(argv, c_locale=True)
    if res.exit_code != 0:
        err = res.stderr.strip()
        if any(s in err for s in ("Operation not permitted", "Permission denied", "must be root")):
            raise ActionError(f"{tool}: {err}", code=ErrorCode.A016)
        if "No such file or directory" in err:
            raise NotFound(f"{tool}: {err}")
        raise ActionError(f"{tool} failed: {err}", code=ErrorCode.A008, data=res)
    return res.stdout


async def ip_json(
    ctx: ActionContext, args: list[str], netns: str | None = None
) -> list[dict[str, Any]]:
    """Run ``ip -j ARGS`` (in ``netns`` when given) and decode its JSON list."""
    argv = ["ip", *(["-n", netns] if netns else []), "-j", *args]
    res = await ctx.run(argv)
    if res.exit_code != 0:
        msg = (res.stderr or res.stdout).strip()
        if "Cannot find device" in msg or "does not exist" in msg:
            raise NotFound(msg)
        raise ActionError(f"{' '.join(argv)}: {msg}", code=ErrorCode.A008, data=res)
    text = res.stdout.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ActionError(f"ip printed no JSON: {exc}", code=ErrorCode.A008) from exc
    return data if isinstance(data, list) else [data]


# -- routing table ------------------------------------------------------------------


class Route(msgspec.Struct):
    """One kernel route, read from ``/proc/net/route`` or ``/proc/net/ipv6_route``."""

    family: str
    destination: str
    """Network in CIDR form, ``0.0.0.0/0`` / ``::/0`` for a default route."""
    gateway: str
    iface: str
    metric: int
    flags: list[str]
    type: str = "unicast"
    mtu: int = 0


_V4_FLAGS = [
    (0x1, "up"),
    (0x2, "gateway"),
    (0x4, "host"),
    (0x10, "dynamic"),
    (0x20, "modified"),
    (0x200, "reject"),
]
_V6_FLAGS = [
    (0x1, "up"),
    (0x2, "gateway"),
    (0x200, "reject"),
    (0x10000, "default"),
    (0x40000, "addrconf"),
    (0x1000000, "cache"),
    (0x80000000, "local"),
]


def read_ipv4_routes(path: str = "/proc/net/route") -> list[Route]:
    """The IPv4 main table (the kernel only exposes that one here)."""
    routes: list[Route] = []
    try:
        with open(path) as fh:
            next(fh, None)
            for line in fh:
                f = line.split()
                if len(f) < 11:
                    continue
                flags = int(f[3], 16)
                mask = int(f[7], 16)
                prefix = bin(mask).count("1")
                routes.append(
                    Route(
                        family="inet",
                        destination=f"{hex_ipv4(f[1])}/{prefix}",
                        gateway=hex_ipv4(f[2]) if flags & 0x2 else "",
                        iface=f[0],
                        metric=int(f[6]),
                        flags=[n for bit, n in _V4_FLAGS if flags & bit],
                        type="unreachable" if flags & 0x200 else "unicast",
                        mtu=int(f[8]),
                    )
                )
    except FileNotFoundError:
        pass
    return routes


def read_ipv6_routes(path: str = "/proc/net/ipv6_route") -> list[Route]:
    """IPv6 routes of every table, local ones marked ``type="local"``."""
    routes: list[Route] = []
    try:
        with open(path) as fh:
            for line in fh:
                f = line.split()
                if len(f) < 10:
                    continue
                flags = int(f[8], 16)
                if flags & 0x200 and int(f[5], 16) == 0xFFFFFFFF:
                    continue  # the kernel's null entry, never a configured route
                dest = hex_ipv6_route(f[0])
                if flags & 0x80000000:
                    kind = "local"
                elif flags & 0x200:
                    kind = "unreachable"
                elif dest.startswith("ff"):
                    kind = "multicast"
                else:
                    kind = "unicast"
                gateway = hex_ipv6_route(f[4])
                routes.append(
                    Route(
                        family="inet6",
                        destination=f"{dest}/{int(f[1], 16)}",
                        gateway=gateway if gateway != "::" else "",
                        iface=f[9],
                        metric=int(f[5], 16),
                        flags=[n for bit, n in _V6_FLAGS if flags & bit],
                        type=kind,
                    )
                )
    except FileNotFoundError:
        pass
    return routes


def read_config(path: str, limit: int = 4 * 1024 * 1024) -> str:
    """A small configuration file's text; A017 when missing, A002 for a directory."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(limit)
    except FileNotFoundError:
        raise NotFound(f"{path} does not exist") from None
    except IsADirectoryError:
        raise InvalidParams(f"path: {path} is a directory") from None
