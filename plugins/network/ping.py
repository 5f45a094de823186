"""Ping a host with ICMP echo and report loss and round-trip times.

``net.ping`` runs the system ``ping`` (iputils) with a bounded count,
interval and deadline and parses its report: packets sent and received, loss
percentage, min/avg/max/mdev round trip, and each reply's time. A host that
does not answer is a normal result (``received`` 0, ``reachable`` false); a
name that does not resolve fails with ``A017``. Runs from this host, so it
measures the path from here, which is the point.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    action,
)

from ._common import check_hostname, check_ifname

PLUGIN = Plugin(
    "net.ping", domain="network", requires=["ping"]
)

_SUMMARY = re.compile(
    r"(\d+) packets transmitted, (\d+) (?:packets )?received(?:, \+(\d+) duplicates)?(?:, \+(\d+) errors)?, ([\d.]+)% packet loss"
)
_RTT = re.compile(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms")
_REPLY = re.compile(r"icmp_seq=(\d+) ttl=(\d+) time=([\d.]+) ms")


class PingParams(msgspec.Struct, forbid_unknown_fields=True):
    host: str
    count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    interval: Annotated[float, msgspec.Meta(ge=0.2, le=10)] = 0.5
    """Seconds between packets (at least 0.2)."""
    timeout: Annotated[float, msgspec.Meta(ge=0.1, le=30)] = 2.0
    """Seconds to wait for the last reply."""
    family: str = "any"
    size: Annotated[int, msgspec.Meta(ge=0, le=65000)] = 56
    iface: str | None = None


class Reply(msgspec.Struct):
    seq: int
    ttl: int
    time_ms: float


class PingResult(msgspec.Struct):
    host: str
    address: str
    transmitted: int
    received: int
    loss_percent: float
    reachable: bool
    rtt_min_ms: float | None
    rtt_avg_ms: float | None
    rtt_max_ms: float | None
    rtt_mdev_ms: float | None
    errors: int
    replies: list[Reply]


@action("net.ping", risk=Risk.READ, timeout=120)
async def ping(ctx: ActionContext, p: PingParams) -> PingResult:
    """Send ``count`` ICMP echoes to ``host``; loss, min/avg/max RTT and each reply."""
    check_hostname(p.host)
    fam = {"any": [], "inet": ["-4"], "inet6": ["-6"]}.get(p.family)
    if fam is None:
        raise InvalidParams(f"family: {p.family!r} is not one of any, inet, inet6")
    # -w bounds the whole run, so a black-holed host cannot hold the task.
    deadline = int(p.count * p.interval + p.timeout) + 1
    argv = [
        "ping",
        *fam,
        "-n",
        "-c",
        str(p.count),
        "-i",
        str(p.interval),
        "-W",
        str(p.timeout),
        "-w",
        str(deadline),
        "-s",
        str(p.size),
    ]
    if p.iface is not None:
        argv += ["-I", check_ifname(p.iface)]
    # check_hostname refuses a leading '-', so the host can never be read as an option.
    res = await ctx.run([*argv, p.host], c_locale=True)
    summary = _SUMMARY.search(res.stdout)
    if summary is None:
        err = (res.stderr or res.stdout).strip()
        if "not known" in err or "resolve" in err or "No address" in err:
            raise NotFound(f"{p.host}: {err}")
        raise ActionError(f"ping failed: {err}", code=ErrorCode.A008, data=res)
    sent, got, _dups, errors, loss = summary.groups()
    rtt = _RTT.search(res.stdout)
    first = res.stdout.splitlines()[0] if res.stdout else ""
    addr = re.search(r"\(([^)]+)\)", first)
    values = [float(v) for v in rtt.groups()] if rtt else [None, None, None, None]
    return PingResult(
        host=p.host,
        address=addr.group(1) if addr else p.host,
        transmitted=int(sent),
        received=int(got),
        loss_percent=float(loss),
        reachable=int(got) > 0,
        rtt_min_ms=values[0],
        rtt_avg_ms=values[1],
        rtt_max_ms=values[2],
        rtt_mdev_ms=values[3],
        errors=int(errors or 0),
        replies=[
            Reply(seq=int(a), ttl=int(b), time_ms=float(c))
            for a, b, c in _REPLY.findall(res.stdout)
        ],
    )
