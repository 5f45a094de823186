"""Resolve names and addresses the way the host's programs do.

``net.dns.resolve`` looks a name up through the system resolver
(``getaddrinfo``: ``/etc/hosts``, DNS, and whatever ``nsswitch.conf`` says),
so it answers "what does *this host* think db1 is?", and reports the canonical
name, every address by family, and how long the lookup took.
``net.dns.reverse`` finds the name of an address (PTR or ``/etc/hosts``). A
name that does not resolve fails with ``A017`` and the resolver's reason.
"""

from __future__ import annotations

import socket
import time

import msgspec

from agent_core import ActionContext, NotFound, Plugin, Risk, action

from ._common import check_address, check_family, check_hostname

PLUGIN = Plugin(
    "net.dns",
    domain="network",
    requires_files=["/etc/nsswitch.conf"],
)


class ResolveParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    family: str = "any"


class ReverseParams(msgspec.Struct, forbid_unknown_fields=True):
    address: str


class Resolved(msgspec.Struct):
    name: str
    canonical: str
    ipv4: list[str]
    ipv6: list[str]
    elapsed_ms: float


class ReverseResolved(msgspec.Struct):
    address: str
    name: str
    aliases: list[str]
    elapsed_ms: float


_FAMILY = {"any": socket.AF_UNSPEC, "inet": socket.AF_INET, "inet6": socket.AF_INET6}


def _failed(what: str, exc: OSError) -> Exception:
    # EAI_NONAME / EAI_NODATA / herror 1 (host not found): the name really is unknown;
    # anything else (EAI_AGAIN: no DNS server answered) is still "not resolvable here".
    return NotFound(f"{what} does not resolve: {exc.strerror or exc}")


@action("net.dns.resolve", risk=Risk.READ, timeout=30)
async def resolve(ctx: ActionContext, p: ResolveParams) -> Resolved:
    """Addresses and canonical name of ``name`` through the host's resolver."""
    import trio

    check_family(p.family)
    check_hostname(p.name, "name")
    t0 = time.monotonic()
    try:
        infos = await trio.socket.getaddrinfo(
            p.name, None, _FAMILY[p.family], socket.SOCK_STREAM, 0, socket.AI_CANONNAME
        )
    except socket.gaierror as exc:
        raise _failed(p.name, exc) from exc
    elapsed = round((time.monotonic() - t0) * 1000, 3)
    v4: list[str] = []
    v6: list[str] = []
    canonical = ""
    for fam, _, _, canon, addr in infos:
        canonical = canonical or canon
        target = v4 if fam == socket.AF_INET else v6
        if addr[0] not in target:
            target.append(str(addr[0]))
    return Resolved(
        name=p.name, canonical=canonical or p.name, ipv4=v4, ipv6=v6, elapsed_ms=elapsed
    )


@action("net.dns.reverse", risk=Risk.READ, timeout=30)
async def reverse(ctx: ActionContext, p: ReverseParams) -> ReverseResolved:
    """The host name of an IP address (PTR record or ``/etc/hosts``)."""

    addr = str(check_address(p.address))
    t0 = time.monotonic()
    try:
        name, aliases, _ = await ctx.to_thread(
            socket.gethostbyaddr, addr
        )
    except (socket.herror, socket.gaierror) as exc:
        raise _failed(addr, exc) from exc
    return ReverseResolved(
        address=addr,
        name=name,
        aliases=list(aliases),
        elapsed_ms=round((time.monotonic() - t0) * 1000, 3),
    )
