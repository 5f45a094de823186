"""Proxy links: the one long connection each proxy keeps to this center.

A link authenticates the proxy, then reads its messages for as long as it
lives. The loop never waits on the database for a heartbeat, a load report
or a result: presence goes to the in-memory book (:mod:`center._presence`),
results and events to the group-commit writer (:mod:`center._progress`), a
load report to a task of its own (the latest wins), and anything that must
wait for this very loop (a re-dispatch waits for the dispatch ack the loop
reads) runs in the link's nursery. Terminal output from the proxy is read by
this loop too, so whatever it waits for, every session behind the link waits
for (issue 10: a load report waiting for the store's one SQLite worker, busy
with an audit batch, held every echo of every session for that long).
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from transports import (
    Balance,
    Channel,
    ChunkGet,
    ChunkPut,
    DispatchAck,
    Enrolled,
    EnrolledBatch,
    Enrollments,
    ErrorCode,
    ErrorMsg,
    Events,
    LoadReport,
    Output,
    Ping,
    Pong,
    Presence,
    Results,
    StarlingError,
    StreamClose,
    StreamData,
    StreamOpen,
    TransportError,
    Welcome,
    receive_hello,
    send_if_open,
)

from ._credentials import proxy_token
from ._enroll import EnrollRequest
from ._metrics import log_failure
from ._store import new_id

if TYPE_CHECKING:
    from ._center import Center

log = logging.getLogger("starling.center")

#: Enrollments one ``enrollments`` message may carry (a proxy sends at most this many).
MAX_ENROLLMENTS = 2000
BALANCE_TOLERANCE = 1.1
BALANCE_EVERY = 8.0
#: A proxy worker's name in its hello ("w0", "w1" ...); its link is "<proxy_id>.<worker>".
_WORKER = re.compile(r"w[0-9]{1,4}")


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
    #: The proxy this link belongs to: ``proxy_id`` itself, or for one worker
    #: of a multi-process proxy (``proxy_id`` "p.w0", "p.w1" ...) the shared "p".
    host: str = ""
    #: Extensions of the protocol the proxy said it has in its ``hello`` (e.g. ``stream_credit``).
    features: frozenset[str] = frozenset()
    #: The load report waiting to be stored, and whether a task is storing one.
    load: LoadReport | None = None
    storing_load: bool = False


class ProxyLinks:
    """Serves proxy links for a :class:`~center._center.Center` (its ``links`` dict)."""

    def __init__(self, center: Center) -> None:
        self.center = center
        self._idc_totals: dict[str, int] = {}
        self._settled: dict[str, bool] = {}

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
        if hello.worker and not _WORKER.fullmatch(hello.worker):
            await channel.send(ErrorMsg(code=ErrorCode.P003.value, message=f"bad worker name {hello.worker[:20]!r}"))
            return
        link_id = f"{hello.node_id}.{hello.worker}" if hello.worker else hello.node_id
        link = ProxyLink(proxy_id=link_id, idc=hello.idc or "default", channel=channel, host=hello.node_id, features=frozenset(hello.features))
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
            for ev in list(link.acks.values()):
                ev.set()  # dispatches awaiting an ack on this link: none will come
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
            ev = link.acks.pop(msg.dispatch_id, None)
            if ev is not None:  # else it came too late: the tasks go out again anyway
                link.rejected[msg.dispatch_id] = msg.rejected
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
            link.load = msg
            if not link.storing_load and link.nursery is not None:
                link.storing_load = True  # not inline: the store may be busy, and streams wait behind this loop
                link.nursery.start_soon(self._store_load, link)
        elif isinstance(msg, Enrollments) and link.nursery is not None:
            link.nursery.start_soon(self._enroll, link, msg)  # not inline: it waits for the registrar's batch
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

    async def _store_load(self, link: ProxyLink) -> None:
        """Store the link's latest load report and balance its IDC; reports that came
        meanwhile are folded into the latest."""
        center = self.center
        try:
            while link.load is not None:
                msg, link.load = link.load, None
                try:
                    await center.store.upsert_proxy(
                        link.proxy_id, idc=msg.idc or link.idc, urls=msg.urls, connections=msg.connections,
                        capacity=msg.capacity, load1=msg.load1, cpus=msg.cpus, rss=msg.rss, online=True,
                    )
                    center.assigned.reported(link.proxy_id, time.time())
                    center.placement.forget_proxies()  # read its new counts at the next registration
                    await self._balance(link.idc)
                except (TransportError, trio.Cancelled):
                    raise
                except Exception as exc:
                    log_failure(log, f"storing the load report of proxy {link.proxy_id} failed", exc, proxy_id=link.proxy_id)
        finally:
            link.storing_load = False

    async def _enroll(self, link: ProxyLink, msg: Enrollments) -> None:
        """Enroll what a proxy relays (center._enroll): each host's answer, or its
        own error code, back in one ``enrolled_batch``. A proxy revoked since it
        linked (by any center: the store says) enrolls nobody, and loses its link."""
        center = self.center
        items = msg.items[:MAX_ENROLLMENTS]
        if {link.proxy_id, link.host} & await center.store.revoked_proxies():
            log.warning("proxy %s is revoked: refusing its %d enrollments", link.proxy_id, len(items), extra={"proxy_id": link.proxy_id})
            await send_if_open(link.channel, EnrolledBatch(items=[
                Enrolled(ref=e.ref, code=ErrorCode.P005.value, message="the relaying proxy is revoked") for e in items
            ]))
            await link.channel.aclose()
            return
        try:
            answers = await center.enroller.enroll_batch([EnrollRequest.from_wire(e) for e in items], need_proof=True)
        except Exception as exc:  # a store failure: every host of the batch retries
            log_failure(log, f"enrollments from proxy {link.proxy_id} failed", exc, proxy_id=link.proxy_id)
            code = exc.code if isinstance(exc, StarlingError) else ErrorCode.C016
            answers = [StarlingError("enrollment could not be stored; retry", code=code)] * len(items)
        out = [
            Enrolled(ref=e.ref, code=a.code.value, message=a.message) if isinstance(a, StarlingError) else Enrolled(ref=e.ref, **a)
            for e, a in zip(items, answers, strict=True)
        ]
        center.stats["enrolled_via_proxy"] += sum(1 for e in out if not e.code)
        await send_if_open(link.channel, EnrolledBatch(items=out))

    def settled(self, idc: str) -> bool:
        """Whether the agents on ``idc``'s proxies held still between their last two
        load reports (under 2 %, or 5 agents): moving agents in or out of an IDC whose
        counts are still changing acts on numbers that are already wrong."""
        return self._settled.get(idc, False)

    async def _balance(self, idc: str) -> None:
        """Even out agents over the linked proxies of one IDC: a proxy above the
        mean by more than the tolerance is told to drain idle agents down to it.
        (A proxy linked to several centers hears the same target from each.)"""
        # A multi-process proxy is one host: the kernel spreads its agents over
        # its workers, so only whole hosts are balanced against each other.
        hosts: dict[str, list[ProxyLink]] = defaultdict(list)
        for lk in self.center.links.values():
            if lk.idc == idc:
                hosts[lk.host or lk.proxy_id].append(lk)
        total = sum(lk.connections for group in hosts.values() for lk in group)
        previous, self._idc_totals[idc] = self._idc_totals.get(idc), total
        self._settled[idc] = previous is not None and abs(total - previous) <= max(5, 0.02 * total)
        if len(hosts) < 2 or not self._settled[idc]:
            return  # one host, or agents are still arriving or leaving: let it settle first
        mean = total / len(hosts)
        now = time.monotonic()
        for host, group in hosts.items():
            held = sum(lk.connections for lk in group)
            if held > mean * BALANCE_TOLERANCE + 2 and now - group[0].balanced_at > BALANCE_EVERY:
                log.info("proxy %s holds %d agents, IDC mean %.0f: draining to %d", host, held, mean, int(mean) + 1)
                for lk in group:
                    lk.balanced_at = now
                    try:  # each worker drains its share of the host's excess
                        await lk.channel.send(Balance(target=int(mean / len(group)) + 1))
                    except TransportError:
                        pass
