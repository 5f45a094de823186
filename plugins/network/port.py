"""Check whether a TCP port accepts connections, from this host.

``net.port`` resolves the host, connects to each of its addresses in turn and
says for each whether the port is open, refused (nothing listens), timed out
(a firewall drops the packets) or unreachable (no route), with the connect
time. With ``banner`` it also reads what the service says first (SSH, SMTP,
Redis...), which tells you *what* answers. The connection is closed right
away and nothing is sent. Use it to check firewall paths between hosts.
"""

from __future__ import annotations

import errno
import socket
import time
from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, NotFound, Plugin, Risk, action

from ._common import check_hostname

PLUGIN = Plugin("net.port", domain="network")


class PortParams(msgspec.Struct, forbid_unknown_fields=True):
    host: str
    port: Annotated[int, msgspec.Meta(gt=0, lt=65536)]
    timeout: Annotated[float, msgspec.Meta(gt=0, le=30)] = 3.0
    """Seconds to wait for each address."""
    family: str = "any"
    banner: bool = False
    """Read up to 256 bytes the service sends first (waits at most 1 s)."""


class Attempt(msgspec.Struct):
    address: str
    state: str
    """``open``, ``refused``, ``timeout``, ``unreachable`` or ``error``."""
    connect_ms: float | None = None
    error: str = ""


class PortCheck(msgspec.Struct):
    host: str
    port: int
    open: bool
    attempts: list[Attempt]
    banner: str = ""


_FAMILY = {"any": socket.AF_UNSPEC, "inet": socket.AF_INET, "inet6": socket.AF_INET6}
_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}


async def _try(sockaddr: tuple, family: int, wait: float, want_banner: bool) -> tuple[Attempt, str]:
    import trio

    sock = trio.socket.socket(family, socket.SOCK_STREAM)
    addr = sockaddr[0]
    banner = ""
    try:
        t0 = time.monotonic()
        with trio.move_on_after(wait) as scope:
            await sock.connect(sockaddr)
        if scope.cancelled_caught:
            return Attempt(address=addr, state="timeout", error=f"no answer in {wait:g}s"), ""
        elapsed = round((time.monotonic() - t0) * 1000, 3)
        if want_banner:
            with trio.move_on_after(1.0):
                data = await sock.recv(256)
                banner = data.decode("utf-8", "replace")
        return Attempt(address=addr, state="open", connect_ms=elapsed), banner
    except OSError as exc:
        if exc.errno == errno.ECONNREFUSED:
            state = "refused"
        elif exc.errno in _UNREACHABLE:
            state = "unreachable"
        elif exc.errno == errno.ETIMEDOUT:
            state = "timeout"
        else:
            state = "error"
        return Attempt(address=addr, state=state, error=exc.strerror or str(exc)), ""
    finally:
        sock.close()


@action("net.port", risk=Risk.READ, timeout=60)
async def port(ctx: ActionContext, p: PortParams) -> PortCheck:
    """Connect to ``host``:``port`` and report open/refused/timeout per address."""
    import trio

    check_hostname(p.host)
    if p.family not in _FAMILY:
        raise InvalidParams(f"family: {p.family!r} is not one of any, inet, inet6")
    try:
        infos = await trio.socket.getaddrinfo(p.host, p.port, _FAMILY[p.family], socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NotFound(f"{p.host} does not resolve: {exc.strerror or exc}") from exc
    attempts: list[Attempt] = []
    banner = ""
    seen: set[str] = set()
    for family, _, _, _, sockaddr in infos[:4]:
        if str(sockaddr[0]) in seen:
            continue
        seen.add(str(sockaddr[0]))
        attempt, banner = await _try(sockaddr, family, p.timeout, p.banner)
        attempts.append(attempt)
        if attempt.state == "open":
            break
    return PortCheck(
        host=p.host,
        port=p.port,
        open=any(a.state == "open" for a in attempts),
        attempts=attempts,
        banner=banner,
    )
