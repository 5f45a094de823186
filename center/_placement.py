"""Where an agent connects: its own IDC's proxies, or another IDC's (borrowing).

Registration answers with the proxies an agent should use (:func:`place`):
the live proxies of its own IDC that have room, least loaded first. When its
IDC has none — all gone (an IDC lost) or all at capacity — it borrows: the
live proxies of other IDCs whose borrowed agents stay under a cap (a share of
each proxy's capacity, ``borrow_share``), so a lost IDC cannot swamp the
lender. Borrowed agents go home by themselves: :func:`return_borrowed` (every
few seconds on each center) finds agents on another IDC's proxy whose own IDC
has room again and asks the lending proxy to drain them (idle ones only, a
batch at a time); they register again and get their own proxies.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter, defaultdict, deque
from typing import TYPE_CHECKING

import sqlalchemy as sa
import trio

from transports import Balance, TransportError

from ._rows import ProxyRow

if TYPE_CHECKING:
    from ._center import Center
    from ._store import Store

log = logging.getLogger("starling.center")

#: A proxy whose last load report (every 3 s, to every center) is older than
#: this is gone, whatever its ``online`` flag says (its centers may be gone too).
PROXY_FRESH = 15.0
#: Share of a proxy's capacity that agents of other IDCs may hold.
BORROW_SHARE = 0.5
#: Borrowed agents sent home per lending proxy and round, and the round length.
RETURN_BATCH = 200
RETURN_EVERY = 3.0
#: Agents go home only into this share of the home proxies' capacity, so that
#: an IDC that lent because it was full does not fill up and drain again.
RETURN_FILL = 0.9
#: Seconds an agent sent to a proxy keeps counting on top of that proxy's load
#: reports: from the registration's answer to the agent's login there, and on to a
#: report that counts it, takes this long at most on a loaded machine. Counting it
#: twice meanwhile errs towards room left unused; forgetting it at the first report
#: overfilled proxies, whose drains then sent agents back and forth.
PENDING_GRACE = 10.0


class Pending:
    """Agents sent somewhere that the load reports may not count yet: per proxy id
    (placed there) or per ``idc:NAME`` (asked to go home there), with the time.

    Kept as runs of ``[time, count]`` in the order they were added, with a running
    total per key: forgetting pops expired runs off the front, so a placement costs
    the same with 10 or 10,000 agents pending (a list of times filtered on every
    placement was 8 % of the center's CPU while 10,000 agents registered)."""

    def __init__(self, grace: float = PENDING_GRACE) -> None:
        self.grace = grace
        self._at: dict[str, deque[list[float]]] = {}
        self._total: dict[str, int] = {}

    def add(self, key: str, now: float, n: int = 1) -> None:
        runs = self._at.get(key)
        if runs is None:
            runs = self._at[key] = deque()
        if runs and runs[-1][0] == now:
            runs[-1][1] += n
        else:
            runs.append([now, n])
        self._total[key] = self._total.get(key, 0) + n

    def reported(self, key: str, now: float) -> None:
        """A load report of ``key`` arrived: what was sent there before the grace
        period is in its count by now."""
        self._forget(key, now)

    def counts(self, now: float) -> dict[str, int]:
        for key in list(self._at):
            self._forget(key, now)
        return dict(self._total)

    def _forget(self, key: str, now: float) -> None:
        runs = self._at.get(key)
        if runs is None:
            return
        # Runs are in the order added; a clock step back only keeps a run a little longer.
        while runs and now - runs[0][0] >= self.grace:
            self._total[key] -= int(runs.popleft()[1])
        if not runs:
            del self._at[key]
            del self._total[key]


def live(proxies: list[ProxyRow], now: float) -> list[ProxyRow]:
    """Proxies online, advertising URLs, and heard from recently."""
    return [p for p in proxies if p.online and p.urls and now - (p.last_seen) < PROXY_FRESH]


def _load(p: ProxyRow, assigned: dict[str, int]) -> int:
    return p.connections + assigned.get(p.id, 0)


def _has_room(p: ProxyRow, assigned: dict[str, int]) -> bool:
    return not p.capacity or _load(p, assigned) < p.capacity


def place(
    idc: str,
    proxies: list[ProxyRow],
    *,
    assigned: dict[str, int],
    borrowed: dict[str, int],
    share: float = BORROW_SHARE,
    now: float | None = None,
    jitter: bool = True,
) -> tuple[list[ProxyRow], bool]:
    """The proxies to offer an agent of ``idc``, best first, and whether they
    are borrowed from other IDCs.

    :param proxies: rows of the proxies table (online ones suffice).
    :param assigned: agents sent to each proxy that its load reports may not count yet
        (:class:`Pending`).
    :param borrowed: agents of other IDCs on each proxy now.
    """
    now = time.time() if now is None else now
    alive = live(proxies, now)

    def order(rows: list[ProxyRow]) -> list[ProxyRow]:
        return sorted(rows, key=lambda p: _load(p, assigned) + (random.random() if jitter else 0.0))

    own = [p for p in alive if p.idc == idc]
    roomy = [p for p in own if _has_room(p, assigned)]
    if roomy:
        return order(roomy), False
    lenders = [
        p for p in alive
        if share > 0 and p.idc != idc and _has_room(p, assigned)
        and (not p.capacity or borrowed.get(p.id, 0) < share * p.capacity)
    ]
    if lenders:
        # Own proxies, if any, stay at the end: over capacity beats nothing.
        return order(lenders) + order(own), True
    return order(own), False


def home_room(proxies: list[ProxyRow], assigned: dict[str, int], now: float) -> dict[str, int]:
    """How many borrowed agents each IDC can take back now (live proxies only;
    an IDC with an unlimited proxy takes any number), less those already asked to
    go home there (``assigned["idc:NAME"]``)."""
    room: dict[str, int] = {}
    for p in live(proxies, now):
        if not p.capacity:
            room[p.idc] = 1 << 30
        else:
            free = int(RETURN_FILL * p.capacity) - _load(p, assigned)
            room[p.idc] = room.get(p.idc, 0) + max(0, free)
    room = {idc: n - assigned.get(f"idc:{idc}", 0) for idc, n in room.items()}
    return {idc: n for idc, n in room.items() if n > 0}


def borrowed_counts(store: Store) -> dict[str, int]:
    """Agents online on a proxy of another IDC than their own, per proxy (blocking)."""
    from ._store import agents, proxies

    q = (
        sa.select(agents.c.proxy_id, sa.func.count())
        .select_from(agents.join(proxies, agents.c.proxy_id == proxies.c.id))
        .where(agents.c.online.is_(True), agents.c.idc != proxies.c.idc)
        .group_by(agents.c.proxy_id)
    )
    with store.engine.connect() as conn:
        return {str(p): int(n) for p, n in conn.execute(q).all()}


def borrowed_agents(store: Store, idcs: list[str], limit: int) -> list[tuple[str, str, str]]:
    """``(agent_id, its IDC, lending proxy)`` of agents of ``idcs`` online on
    another IDC's proxy (blocking)."""
    from ._store import agents, proxies

    if not idcs:
        return []
    q = (
        sa.select(agents.c.id, agents.c.idc, agents.c.proxy_id)
        .select_from(agents.join(proxies, agents.c.proxy_id == proxies.c.id))
        .where(agents.c.online.is_(True), agents.c.idc.in_(idcs), agents.c.idc != proxies.c.idc)
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [(str(a), str(i), str(p)) for a, i, p in conn.execute(q).all()]


#: Seconds a read of the proxy table serves registrations.
PROXIES_FRESH = 0.5


class Placement:
    """A center's placement state: the borrowed counts (re-read every couple
    of seconds, plus what this center lent since) and the return loop."""

    def __init__(self, center: Center, share: float = BORROW_SHARE) -> None:
        self.center = center
        self.share = share
        self._borrowed: dict[str, int] = {}
        self._lent: dict[str, int] = defaultdict(int)
        self._read_at = 0.0
        self._proxies: list[ProxyRow] = []
        self._proxies_at = 0.0
        self._generation = 0

    def forget_proxies(self) -> None:
        """A load report or a link changed the proxy table: read it again next time."""
        self._proxies_at = 0.0
        self._generation += 1

    async def proxies_for(self, idc: str) -> tuple[list[ProxyRow], bool]:
        store = self.center.store
        now = time.time()
        if now - self._read_at > 2.0:
            self._borrowed = await store.call(borrowed_counts, store.sync)
            self._lent.clear()
            self._read_at = now
        if now - self._proxies_at > PROXIES_FRESH:
            # One read serves a wave of registrations until the next load report
            # (the agents this center placed that the reports may not count yet go on top).
            generation = self._generation
            rows = await store.list_proxies(online=True)
            if generation == self._generation:  # no load report arrived while it was read
                self._proxies, self._proxies_at = rows, now
        else:
            rows = self._proxies
        borrowed = {k: self._borrowed.get(k, 0) + self._lent.get(k, 0) for k in {*self._borrowed, *self._lent}}
        pending = self.center.assigned
        chosen, is_borrowed = place(idc, rows, assigned=pending.counts(now), borrowed=borrowed, share=self.share, now=now)
        if chosen:
            first = chosen[0].id
            pending.add(first, now)
            if is_borrowed:
                self._lent[first] += 1
                log.info("agent of IDC %s borrows proxy %s (%s)", idc, first, chosen[0].idc, extra={"proxy_id": first})
        return chosen, is_borrowed

    async def return_once(self) -> int:
        """Ask lending proxies linked here to drain borrowed agents whose own
        IDC has room again; returns how many were asked."""
        store = self.center.store
        now = time.time()
        room = home_room(await store.list_proxies(online=True), self.center.assigned.counts(now), now)
        # Only into an IDC whose counts hold still: at a cold start its proxies' reports
        # lag the agents logging in, and the room they seem to have is not there.
        room = {idc: n for idc, n in room.items() if self.center.proxy_links.settled(idc)}
        found = await store.call(borrowed_agents, store.sync, sorted(room), RETURN_BATCH * max(1, len(self.center.links)))
        by_proxy: dict[str, list[str]] = defaultdict(list)
        home = {agent_id: idc for agent_id, idc, _ in found}
        for agent_id, idc, proxy_id in found:
            if len(by_proxy[proxy_id]) < RETURN_BATCH and room[idc] > 0:
                by_proxy[proxy_id].append(agent_id)
                room[idc] -= 1
        asked = 0
        for proxy_id, ids in by_proxy.items():
            link = self.center.links.get(proxy_id)
            if link is None:
                continue  # another center holds that link
            try:
                await link.channel.send(Balance(target=-1, agents=ids))
            except TransportError:
                continue
            for idc, n in Counter(home[a] for a in ids).items():
                self.center.assigned.add(f"idc:{idc}", now, n)
            asked += len(ids)
        if asked:
            log.info("asked lending proxies to send %d borrowed agents home", asked)
        return asked

    async def run(self) -> None:
        while True:
            await trio.sleep(RETURN_EVERY)
            try:
                await self.return_once()
            except Exception as exc:
                from ._metrics import log_failure

                log_failure(log, "returning borrowed agents failed", exc)
