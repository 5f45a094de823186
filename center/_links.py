"""Proxy links: the one long connection each proxy keeps to this center.

A link authenticates the proxy, then reads its messages for as long as it
lives. The loop never waits on the database for a heartbeat or a result:
presence goes to the in-memory book (:mod:`center._presence`), results and
events to the group-commit writer (:mod:`center._progress`), and anything
that must wait for this very loop (a re-dispatch waits for the dispatch
ack the loop reads) runs in the link's nursery.
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from transports import (
    Balance,
    Channel,
    ChunkGet,
    ChunkPut,
    DispatchAck,
    ErrorCode,
    ErrorMsg,
    Events,
    LoadReport,
    Output,
    Ping,
    Pong,
    Presence,
    Results,
    StreamClose,
    StreamData,
    StreamOpen,
    TransportError,
    Welcome,
    receive_hello,
)

from ._credentials import proxy_token
from ._metrics import log_failure
from ._store import new_id

if TYPE_CHECKING:
    from ._center import Center

log = logging.getLogger("starling.center")

BALANCE_TOLERANCE = 1.1
BALANCE_EVERY = 8.0


@dataclass(eq=False)
class ProxyLink:
    """One linked proxy: its channel, its last load report, dispatches awaiting an ack."""

    proxy_id: str
    idc: str
    channel: Channel
    urls: list[str] = field(default_factory=list)
    connections: int = 0
    capacity: int = 0
    balanced_at: float = 0.0
    nursery: trio.Nursery | None = None
    acks: dict[str, trio.Event] = field(default_factory=dict)
    rejected: dict[str, list[Any]] = field(default_factory=dict)


class ProxyLinks:
    """Serves proxy links for a :class:`~center._center.Center` (its ``links`` dict)."""

    def __init__(self, center: Center) -> None:
        self.center = center
        self._idc_totals: dict[str, int] = {}

    async def session(self, channel: Channel) -> None:
        center = self.center
        hello = await receive_hello(channel, "proxy")
        if hello is None:
            return
        expected = proxy_token(center.proxy_token, hello.node_id).encode()
        if not hmac.compare_digest(hello.credential, expected):
            log.warning("proxy %s refused: bad token", hello.node_id)
            await channel.send(ErrorMsg(code=ErrorCode.P005.value, message="proxy authentication failed"))
            return
        if hello.node_id in await center.store.revoked_proxies():
            log.warning("proxy %s refused: revoked", hello.node_id)
            await channel.send(ErrorMsg(code=ErrorCode.P005.value, message="proxy revoked"))
            return
        channel.mark_authenticated()
        revoked = await center.store.revoked_agents()
        await channel.send(
            Welcome(session=new_id("s"), heartbeat=center.heartbeat, server_time=time.time(), center_key=center.public_key, revoked=revoked)
        )
        link = ProxyLink(proxy_id=hello.node_id, idc=hello.idc or "default", channel=channel)
        old = center.links.get(link.proxy_id)
        if old is not None:
            await old.channel.aclose()
        center.links[link.proxy_id] = link
        await center.store.upsert_proxy(link.proxy_id, idc=link.idc, online=True)
        log.info("proxy %s connected (%s)", link.proxy_id, link.idc, extra={"proxy_id": link.proxy_id})
        try:
            async with trio.open_nursery() as nursery:
                link.nursery = nursery
                await self._loop(link, channel)
                nursery.cancel_scope.cancel()
        finally:
            center.terminals.link_gone(link)
            if center.links.get(link.proxy_id) is link:
                del center.links[link.proxy_id]
                center.presence.proxy_lost(link.proxy_id)
                with trio.CancelScope(shield=True):
                    await center.store.proxy_lost(link.proxy_id)
                center.placement.forget_proxies()
                log.warning("proxy %s disconnected", link.proxy_id, extra={"proxy_id": link.proxy_id, "code": ErrorCode.P007.value})

    async def _loop(self, link: ProxyLink, channel: Channel) -> None:
        async for msg in channel:
            try:
                await self._on_message(link, msg)
            except (TransportError, trio.Cancelled):
                raise
            except Exception as exc:
                # A store hiccup must not drop the link: unacknowledged
                # results are re-sent by the proxy.
                log_failure(log, f"handling {type(msg).__name__} from proxy {link.proxy_id} failed", exc, proxy_id=link.proxy_id)

    async def _on_message(self, link: ProxyLink, msg: Any) -> None:
        center = self.center
        if isinstance(msg, (Results, Events)):
            await center.progress.put(link, msg)
        elif isinstance(msg, DispatchAck):
            link.rejected[msg.dispatch_id] = msg.rejected
            ev = link.acks.pop(msg.dispatch_id, None)
            if ev is not None:
                ev.set()
        elif isinstance(msg, Presence):
            came = await center.presence.apply(link.proxy_id, msg.agents, msg.full)
            if came and link.nursery is not None:
                # Not inline: a dispatch waits for its ack, which this very loop reads.
                link.nursery.start_soon(center.dispatcher.redispatch_for, came)
        elif isinstance(msg, LoadReport):
            link.urls = msg.urls
            link.connections = msg.connections
            link.capacity = msg.capacity
            center.assigned[link.proxy_id] = 0
            await center.store.upsert_proxy(
                link.proxy_id, idc=msg.idc or link.idc, urls=msg.urls, connections=msg.connections,
                capacity=msg.capacity, load1=msg.load1, cpus=msg.cpus, rss=msg.rss, online=True,
            )
            center.placement.forget_proxies()  # its counts and the reset of ``assigned`` go together
            await self._balance(link.idc)
        elif isinstance(msg, Output):
            center.outputs.add(msg)
        elif isinstance(msg, (ChunkGet, ChunkPut)) and center.files is not None and link.nursery is not None:
            link.nursery.start_soon(center.files.serve, link.channel, msg)  # not inline: chunks are big
        elif isinstance(msg, (StreamOpen, StreamData, StreamClose)):
            center.terminals.deliver(link, msg)
        elif isinstance(msg, Ping):
            await link.channel.send(Pong(seq=msg.seq))
        elif isinstance(msg, ErrorMsg):
            log.warning("proxy %s reports %s: %s", link.proxy_id, msg.code, msg.message)

    async def _balance(self, idc: str) -> None:
        """Even out agents over the linked proxies of one IDC: a proxy above the
        mean by more than the tolerance is told to drain idle agents down to it.
        (A proxy linked to several centers hears the same target from each.)"""
        links = [lk for lk in self.center.links.values() if lk.idc == idc]
        if len(links) < 2:
            return
        total = sum(lk.connections for lk in links)
        previous, self._idc_totals[idc] = self._idc_totals.get(idc), total
        if previous is None or abs(total - previous) > max(5, 0.02 * total):
            return  # agents are still arriving or leaving: let it settle first
        mean = total / len(links)
        now = time.monotonic()
        for lk in links:
            if lk.connections > mean * BALANCE_TOLERANCE + 2 and now - lk.balanced_at > BALANCE_EVERY:
                lk.balanced_at = now
                target = int(mean) + 1
                log.info("proxy %s holds %d agents, IDC mean %.0f: draining to %d", lk.proxy_id, lk.connections, mean, target)
                try:
                    await lk.channel.send(Balance(target=target))
                except TransportError:
                    pass
