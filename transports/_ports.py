"""Free loopback ports for listeners that bind a moment later (local instances, tests)."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

_handed_out: set[int] = set()


def port_is_free(port: int, host: str = "127.0.0.1", *, udp: bool = False) -> bool:
    """Whether a TCP listener (``udp``: a UDP socket) could bind ``host:port`` now (for TCP,
    TIME_WAIT leftovers do not count, as a listener sets ``SO_REUSEADDR``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as s:
        if not udp:  # for UDP it would share a port another socket holds
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands to outgoing connections (and to ``bind(0)``)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default range is 32768-60999


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now, chosen at random below the kernel's ephemeral range.

    Whoever asks binds the port a moment later. A port from ``bind(0)`` comes from the
    ephemeral range, where any process's next outgoing connection may take it in between (a
    proxy of ``starling up`` once failed with "Address already in use" in the test suite);
    below that range only another listener can, and a random choice keeps concurrent callers
    apart. No port is handed out twice by one process."""
    floor = _ephemeral_floor()
    low = 10000 if floor > 12000 else 1024
    for _ in range(200):
        port = secrets.randbelow(floor - low) + low
        if port not in _handed_out and port_is_free(port, host):
            _handed_out.add(port)
            return port
    with socket.socket() as s:  # a crowded low range: the kernel's choice after all
        s.bind((host, 0))
        return int(s.getsockname()[1])
