"""Traffic counters per interface, and rates over a short sample.

``net.traffic`` reads ``/proc/net/dev``: bytes, packets, errors and drops in
each direction since the interface came up. Given ``interval`` seconds it reads
twice and also reports bytes and packets per second over that window, which is
what an operator wants when asking "is this host saturating its link?".
Reads ``/proc`` only.
"""

from __future__ import annotations

import time
from typing import Annotated

import msgspec

from agent_core import ActionContext, Plugin, Risk, action

from ._common import require_iface

PLUGIN = Plugin(
    "net.traffic",
    domain="network",
    requires_files=["/proc/net/dev"],
)

# Column order of /proc/net/dev after "iface:".
_RX = ("bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast")
_TX = ("bytes", "packets", "errs", "drop", "fifo", "colls", "carrier", "compressed")


class TrafficParams(msgspec.Struct, forbid_unknown_fields=True):
    iface: str | None = None
    interval: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0.0
    """Seconds between two readings to compute rates (0 = counters only, max 60)."""


class Counters(msgspec.Struct):
    iface: str
    rx_bytes: int
    rx_packets: int
    rx_errors: int
    rx_dropped: int
    tx_bytes: int
    tx_packets: int
    tx_errors: int
    tx_dropped: int
    rx_bytes_per_s: float | None = None
    tx_bytes_per_s: float | None = None
    rx_packets_per_s: float | None = None
    tx_packets_per_s: float | None = None


class Traffic(msgspec.Struct):
    interfaces: list[Counters]
    interval: float


def read_dev(path: str = "/proc/net/dev") -> dict[str, dict[str, int]]:
    """Parse ``/proc/net/dev`` into ``{iface: {"rx_bytes": .., "tx_packets": .., ...}}``."""
    out: dict[str, dict[str, int]] = {}
    with open(path) as fh:
        for line in fh.readlines()[2:]:
            name, sep, rest = line.partition(":")
            if not sep:
                continue
            values = [int(v) for v in rest.split()]
            row = {f"rx_{k}": v for k, v in zip(_RX, values[:8], strict=True)}
            row.update({f"tx_{k}": v for k, v in zip(_TX, values[8:16], strict=True)})
            out[name.strip()] = row
    return out


def _counters(name: str, row: dict[str, int]) -> Counters:
    return Counters(
        iface=name,
        rx_bytes=row["rx_bytes"],
        rx_packets=row["rx_packets"],
        rx_errors=row["rx_errs"],
        rx_dropped=row["rx_drop"],
        tx_bytes=row["tx_bytes"],
        tx_packets=row["tx_packets"],
        tx_errors=row["tx_errs"],
        tx_dropped=row["tx_drop"],
    )


def _rate(new: int, old: int, seconds: float) -> float:
    # Counters can wrap or reset when a driver reloads: a negative delta is no rate.
    return round(max(new - old, 0) / seconds, 2)


@action("net.traffic", risk=Risk.READ, timeout=90)
async def traffic(ctx: ActionContext, p: TrafficParams) -> Traffic:
    """Byte/packet/error/drop counters per interface, plus rates when ``interval`` > 0."""
    if p.iface is not None:
        require_iface(p.iface)
    first = read_dev()
    t0 = time.monotonic()
    if p.interval > 0:
        await ctx.sleep(p.interval)
        second = read_dev()
        elapsed = time.monotonic() - t0
    else:
        second, elapsed = first, 0.0
    out = []
    for name in sorted(second):
        if p.iface is not None and name != p.iface:
            continue
        c = _counters(name, second[name])
        if elapsed > 0 and name in first:
            old = first[name]
            c.rx_bytes_per_s = _rate(c.rx_bytes, old["rx_bytes"], elapsed)
            c.tx_bytes_per_s = _rate(c.tx_bytes, old["tx_bytes"], elapsed)
            c.rx_packets_per_s = _rate(c.rx_packets, old["rx_packets"], elapsed)
            c.tx_packets_per_s = _rate(c.tx_packets, old["tx_packets"], elapsed)
        out.append(c)
    return Traffic(interfaces=out, interval=round(elapsed, 3))
