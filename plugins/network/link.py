"""Link health of network interfaces: carrier, speed, duplex, flaps and errors.

``net.link`` answers "is the cable/port all right?" from ``/sys/class/net``:
operational state, carrier, negotiated speed (Mb/s) and duplex when the driver
knows them, how often the carrier went up and down, the driver and bus
address, the transmit queue length, and the error and drop counters. Use it to
spot a flapping port, a NIC that negotiated 100 Mb/s, or a link dropping
packets. Reads ``/sys`` only; changes nothing.
"""

from __future__ import annotations

import os

import msgspec

from agent_core import ActionContext, Plugin, Risk, action

from ._common import SYS_NET, read_int, read_text, require_iface

PLUGIN = Plugin(
    "net.link", domain="network", requires_files=[SYS_NET]
)

_COUNTERS = (
    "rx_errors",
    "tx_errors",
    "rx_dropped",
    "tx_dropped",
    "rx_crc_errors",
    "rx_frame_errors",
    "collisions",
)


class LinkParams(msgspec.Struct, forbid_unknown_fields=True):
    iface: str | None = None
    """Only this interface (default: all but loopback)."""


class Link(msgspec.Struct):
    iface: str
    state: str
    carrier: bool | None
    """``None`` when the interface is administratively down (the kernel will not say)."""
    speed_mbps: int | None
    duplex: str
    driver: str
    bus: str
    virtual: bool
    mtu: int
    tx_queue_len: int
    carrier_changes: int
    carrier_up: int
    carrier_down: int
    errors: dict[str, int]


class Links(msgspec.Struct):
    links: list[Link]
    problems: list[str]
    """Plain-words findings: no carrier, half duplex, errors or drops seen."""


def _link(name: str) -> Link:
    path = os.path.join(SYS_NET, name)
    carrier = read_int(os.path.join(path, "carrier"))
    speed = read_int(os.path.join(path, "speed"))
    driver_link = os.path.join(path, "device", "driver")
    device = os.path.join(path, "device")
    stats = os.path.join(path, "statistics")
    return Link(
        iface=name,
        state=read_text(os.path.join(path, "operstate"), "unknown") or "unknown",
        carrier=None if carrier is None else bool(carrier),
        # -1 (or 4294967295) is the kernel's SPEED_UNKNOWN.
        speed_mbps=speed if speed is not None and 0 < speed < 4294967295 else None,
        duplex=read_text(os.path.join(path, "duplex"), "") or "",
        driver=os.path.basename(os.readlink(driver_link)) if os.path.islink(driver_link) else "",
        bus=os.path.basename(os.readlink(device)) if os.path.islink(device) else "",
        virtual=not os.path.exists(device),
        mtu=read_int(os.path.join(path, "mtu"), 0) or 0,
        tx_queue_len=read_int(os.path.join(path, "tx_queue_len"), 0) or 0,
        carrier_changes=read_int(os.path.join(path, "carrier_changes"), 0) or 0,
        carrier_up=read_int(os.path.join(path, "carrier_up_count"), 0) or 0,
        carrier_down=read_int(os.path.join(path, "carrier_down_count"), 0) or 0,
        errors={c: read_int(os.path.join(stats, c), 0) or 0 for c in _COUNTERS},
    )


def _problems(link: Link) -> list[str]:
    out = []
    if link.state == "down" or link.carrier is False:
        out.append(f"{link.iface}: no carrier (state {link.state})")
    if link.duplex == "half":
        out.append(f"{link.iface}: half duplex")
    bad_counts = {k: v for k, v in link.errors.items() if v}
    if bad_counts:
        out.append(f"{link.iface}: " + ", ".join(f"{k}={v}" for k, v in sorted(bad_counts.items())))
    return out


@action("net.link", risk=Risk.READ, timeout=10)
async def link(ctx: ActionContext, p: LinkParams) -> Links:
    """Carrier, speed, duplex, driver, flap counts and error counters per interface."""
    if p.iface is not None:
        names = [require_iface(p.iface)]
    else:
        names = sorted(
            n for n in os.listdir(SYS_NET) if read_int(os.path.join(SYS_NET, n, "type")) != 772
        )
    links = [_link(n) for n in names]
    return Links(links=links, problems=[msg for lk in links for msg in _problems(lk)])
