"""Which agents are online where, kept in memory and written as changes.

Proxies report their agents in ``presence`` batches: comings, goings and
heartbeats. A heartbeat changes nothing but a time and a health summary, so
it is not written when it arrives: the book keeps it, and writes every
agent's latest beat in ONE statement per snapshot (every third of the grace
period, so the database's ``last_seen`` never lags enough for the sweeper
of this or another center to take a live host offline; a snapshot never
revives a host that its proxy reported gone meanwhile). Comings and goings
are written at once, in one transaction per batch: the database's
``online``/``proxy_id`` stay exact for every center that reads them.

A center that restarts has an empty book; the proxy's first ``presence`` on
a new link is a full report, so every agent it holds "comes" again (and is
re-dispatched what it missed), exactly as after a proxy restart.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from transports import AgentState

from ._store import AsyncStore, HostBeat


@dataclass(slots=True)
class _Seen:
    proxy_id: str
    at: float
    carrier: str
    health: str | None  # JSON text, None until a heartbeat carried one


class PresenceBook:
    """Agents online through this center's links, with their latest heartbeat.

    :param store: where changes and snapshots are written.
    :param snapshot_every: seconds between heartbeat snapshots.
    """

    def __init__(self, store: AsyncStore, *, snapshot_every: float) -> None:
        self.store = store
        self.snapshot_every = snapshot_every
        self._online: dict[str, _Seen] = {}
        self._dirty: set[str] = set()  # beat since the last snapshot
        self._snapshot_at = time.monotonic()

    def __len__(self) -> int:
        return len(self._online)

    def proxy_of(self, agent_id: str) -> str | None:
        seen = self._online.get(agent_id)
        return seen.proxy_id if seen is not None else None

    def statistics(self) -> dict[str, int]:
        return {"online": len(self._online), "unsaved_beats": len(self._dirty)}

    async def apply(self, proxy_id: str, states: Sequence[AgentState], full: bool = False) -> list[str]:
        """Take one presence batch from ``proxy_id``; return the agents that came
        (online here and not known online through this proxy before)."""
        came: list[HostBeat] = []
        gone: list[tuple[str, str]] = []
        for s in states:
            seen = self._online.get(s.agent_id)
            if s.online:
                health = msgspec.json.encode(s.health).decode() if s.health is not None else None
                if seen is None or seen.proxy_id != proxy_id:
                    seen = self._online[s.agent_id] = _Seen(proxy_id, s.at, s.carrier, health)
                    came.append(HostBeat(s.agent_id, proxy_id, s.at, s.carrier, health))
                    self._dirty.discard(s.agent_id)  # written with the change
                    continue
                # A bare "online" must not erase the health a heartbeat carried.
                seen.at, seen.carrier = s.at, s.carrier or seen.carrier
                if health is not None:
                    seen.health = health
                self._dirty.add(s.agent_id)
            else:
                if seen is not None and seen.proxy_id == proxy_id:
                    del self._online[s.agent_id]
                    self._dirty.discard(s.agent_id)
                gone.append((s.agent_id, s.code or "E001"))
        present: list[str] | None = None
        if full:
            present = [s.agent_id for s in states if s.online]
            keep = set(present)
            for agent_id in [a for a, seen in self._online.items() if seen.proxy_id == proxy_id and a not in keep]:
                del self._online[agent_id]
                self._dirty.discard(agent_id)
        if came or gone or present is not None:
            await self.store.presence_changes(proxy_id, came, gone, present)
        return [b.agent_id for b in came]

    def proxy_lost(self, proxy_id: str) -> None:
        """The link to ``proxy_id`` ended: forget its agents (the store is told separately)."""
        for agent_id in [a for a, seen in self._online.items() if seen.proxy_id == proxy_id]:
            del self._online[agent_id]
            self._dirty.discard(agent_id)

    def drop_stale(self, before: float) -> int:
        """Forget agents whose last beat is older than ``before`` (the sweeper
        takes them offline in the store); their next beat is a coming."""
        stale = [a for a, seen in self._online.items() if seen.at < before]
        for agent_id in stale:
            del self._online[agent_id]
            self._dirty.discard(agent_id)
        return len(stale)

    async def snapshot(self, *, force: bool = False) -> int:
        """Write the latest beat of every agent that beat since the last snapshot,
        when one is due (or ``force``); returns how many rows were written."""
        now = time.monotonic()
        if not force and now - self._snapshot_at < self.snapshot_every:
            return 0
        self._snapshot_at = now
        beats = []
        for agent_id in self._dirty:
            seen = self._online.get(agent_id)
            if seen is not None:
                beats.append(HostBeat(agent_id, seen.proxy_id, seen.at, seen.carrier, seen.health))
        self._dirty.clear()
        if beats:
            await self.store.presence_snapshot(beats)
        return len(beats)
