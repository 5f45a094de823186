"""Pre-login attacks on one's own Starling listener, for ``bench/preauth.py``
and ``tests/integration/test_preauth_bounds.py``.

Everything here is bounded in count and time and refuses any address outside
loopback (127.0.0.0/8): the attacker spreads its connections over source
addresses 127.0.x.y so that per-source caps do not hide the total ones.

Attacks: random bytes (before and after TLS), truncated frames, huge declared
lengths, half-open connections (TCP only, never a ClientHello), and
connections that each hold a partial large frame.
"""

from __future__ import annotations

import ipaddress
import os
import random
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil
import trio

_CONNECT = 10.0  # seconds for one connect + handshake


@dataclass(frozen=True)
class Target:
    """A listener under attack: loopback only."""

    host: str
    port: int
    tls: bool = True

    def __post_init__(self) -> None:
        if not ipaddress.ip_address(self.host).is_loopback:
            raise ValueError(f"refusing to attack {self.host}: loopback only")


@dataclass
class Tally:
    """What happened to the attacking connections."""

    opened: int = 0
    refused: int = 0  # closed by the server before or during the TLS handshake
    closed_by_server: int = 0  # closed by the server after the attacker's bytes
    held: list[Any] = field(default_factory=list, repr=False)

    def row(self) -> dict[str, int]:
        return {"opened": self.opened, "refused": self.refused, "closed_by_server": self.closed_by_server, "held": len(self.held)}


def sources(n: int, offset: int = 0) -> list[str]:
    """``n`` loopback source addresses, 250 per /24."""
    return [f"127.{10 + k // 62_500}.{k // 250 % 250}.{1 + k % 250}" for k in range(offset, offset + n)]


def _attacker_tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # an attacker does not care who answers
    return ctx


_CTX = _attacker_tls()


async def _connect(target: Target, source: str, *, handshake: bool) -> trio.abc.Stream | None:
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with trio.fail_after(_CONNECT):
            await sock.bind((source, 0))
            await sock.connect((target.host, target.port))
            stream: trio.abc.Stream = trio.SocketStream(sock)
            if handshake and target.tls:
                tls = trio.SSLStream(stream, _CTX, server_hostname=None)
                await tls.do_handshake()
                stream = tls
            return stream
    except (OSError, trio.BrokenResourceError, trio.TooSlowError, ssl.SSLError):
        sock.close()
        return None


async def closed_by_server(stream: trio.abc.Stream, within: float) -> bool:
    """True if the server closes (or resets) ``stream`` within ``within`` seconds."""
    with trio.move_on_after(within):
        try:
            while True:
                if not await stream.receive_some(65536):
                    return True
        except (trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError, OSError):
            return True
    return False


async def hold(target: Target, n: int, *, partial: int | None, offset: int = 0, concurrency: int = 64) -> Tally:
    """Open ``n`` connections and keep them: half-open (``partial`` None: TCP
    only) or, after the TLS handshake, holding a frame that announces
    ``partial`` bytes and sends all but one."""
    tally = Tally()
    limiter = trio.CapacityLimiter(concurrency)
    filler = os.urandom(65536)

    async def one(source: str) -> None:
        async with limiter:
            stream = await _connect(target, source, handshake=partial is not None)
            if stream is None:
                tally.refused += 1
                return
            tally.opened += 1
            if partial is not None:
                body = (filler * (partial // len(filler) + 1))[: max(partial - 1, 0)]
                try:
                    with trio.fail_after(_CONNECT):
                        await stream.send_all(struct.pack(">I", partial) + body)
                except (trio.BrokenResourceError, trio.TooSlowError, ssl.SSLError, OSError):
                    tally.closed_by_server += 1
                    await trio.aclose_forcefully(stream)
                    return
            tally.held.append(stream)

    async with trio.open_nursery() as nursery:
        for source in sources(n, offset):
            nursery.start_soon(one, source)
    await drop_closed(tally, 1.0)
    return tally


async def drop_closed(tally: Tally, within: float) -> None:
    """Move the held connections the server has closed (a refusal after the
    kernel accepted) from ``held`` to ``closed_by_server``."""
    alive: list[Any] = []

    async def check(stream: Any) -> None:
        if await closed_by_server(stream, within):
            tally.closed_by_server += 1
            await trio.aclose_forcefully(stream)
        else:
            alive.append(stream)

    async with trio.open_nursery() as nursery:
        for stream in tally.held:
            nursery.start_soon(check, stream)
    tally.held = alive


async def release(tally: Tally) -> None:
    """Close every held connection (abruptly, as an attacker would)."""
    held, tally.held = tally.held, []
    for stream in held:
        await trio.aclose_forcefully(stream)


async def one_shots(target: Target, kind: str, n: int, *, seed: int = 1, offset: int = 0) -> Tally:
    """``n`` short attacks of one ``kind``: ``random`` (random bytes, before
    TLS on half the connections, inside it on the others), ``truncated`` (a
    frame cut short, then the connection closed), ``huge`` (a header
    announcing more than any limit; the server must close at once)."""
    rng = random.Random(seed)
    tally = Tally()
    limiter = trio.CapacityLimiter(32)

    async def one(i: int, source: str) -> None:
        async with limiter:
            raw_first = kind == "random" and i % 2 == 0
            stream = await _connect(target, source, handshake=not raw_first)
            if stream is None:
                tally.refused += 1
                return
            tally.opened += 1
            try:
                with trio.fail_after(_CONNECT):
                    if kind == "random":
                        await stream.send_all(rng.randbytes(rng.randint(1, 70_000)))
                    elif kind == "truncated":
                        size = rng.randint(8, 4000)
                        await stream.send_all(struct.pack(">I", size) + rng.randbytes(size // 2))
                    elif kind == "huge":
                        size = rng.choice([0xFFFFFFFF, 16 * 1024 * 1024 + 1, 16 * 1024 * 1024, 1 << 30, 70_000])
                        await stream.send_all(struct.pack(">I", size) + rng.randbytes(rng.randint(0, 4096)))
                    else:
                        raise ValueError(kind)
                if kind == "huge" and await closed_by_server(stream, 5.0):
                    tally.closed_by_server += 1
            except (trio.BrokenResourceError, trio.TooSlowError, ssl.SSLError, OSError):
                tally.closed_by_server += 1
            finally:
                await trio.aclose_forcefully(stream)

    async with trio.open_nursery() as nursery:
        for i, source in enumerate(sources(n, offset)):
            nursery.start_soon(one, i, source)
    return tally


class RssSampler:
    """Samples the RSS of some processes in a thread; keeps the peak."""

    def __init__(self, pids: dict[str, int], every: float = 0.1) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak = dict.fromkeys(pids, 0)
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> dict[str, int]:
        return {name: p.memory_info().rss for name, p in self.procs.items()}

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, rss in self.now().items():
                self.peak[name] = max(self.peak[name], rss)
            self._stop.wait(self.every)

    def reset(self) -> None:
        self.peak = dict.fromkeys(self.procs, 0)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def settle(seconds: float) -> None:
    """Let the servers notice closed connections (and trim their heap)."""
    time.sleep(seconds)
