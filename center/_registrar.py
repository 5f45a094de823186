"""Registration by group commit.

Every ``POST /v1/register`` that passed its checks waits here for a seat in the
next batch. One task takes every registration that arrived while the last
batch was being written: ONE transaction upserts all their hosts by SN, and
ONE worker-thread pass signs all their credentials. A cold start of thousands
of agents therefore costs a few transactions a second instead of one per
agent, and a lone registration still goes out at once (a batch of one).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from . import _credentials
from ._store import Enrollee

if TYPE_CHECKING:
    from ._center import Center

log = logging.getLogger("starling.center")

#: Registrations per batch at most (a bigger wave is several batches).
MAX_BATCH = 2000


@dataclass(eq=False)
class _Seat:
    enrollee: Enrollee
    pubkey: bytes
    done: trio.Event = field(default_factory=trio.Event)
    agent_id: str = ""
    revoked: bool = False
    credential: str = ""
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class Registered:
    agent_id: str
    revoked: bool
    credential: str  # empty when revoked


class Registrar:
    """Coalesces concurrent registrations into one transaction and one signing pass."""

    def __init__(self, center: Center) -> None:
        self.center = center
        self._queue: list[_Seat] = []
        self._wake = trio.Event()
        #: Batches written and hosts they held (statistics, tests).
        self.batches = 0
        self.hosts = 0

    async def register(self, enrollee: Enrollee, pubkey: bytes = b"") -> Registered:
        """Upsert this host and issue its credential, in the next batch."""
        seat = _Seat(enrollee, pubkey)
        self._queue.append(seat)
        self._wake.set()
        await seat.done.wait()
        if seat.error is not None:
            raise seat.error
        return Registered(seat.agent_id, seat.revoked, seat.credential)

    async def register_many(self, hosts: list[tuple[Enrollee, bytes]]) -> list[Registered | BaseException]:
        """:meth:`register` for a batch of hosts (enrollments relayed by a proxy):
        they join the next batch together; each gets its answer or its error."""
        seats = [_Seat(enrollee, pubkey) for enrollee, pubkey in hosts]
        self._queue.extend(seats)
        self._wake.set()
        for seat in seats:
            await seat.done.wait()
        return [seat.error if seat.error is not None else Registered(seat.agent_id, seat.revoked, seat.credential) for seat in seats]

    def statistics(self) -> dict[str, int]:
        return {"batches": self.batches, "hosts": self.hosts, "waiting": len(self._queue)}

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                try:
                    await self._write(batch)
                except Exception as exc:  # each waiter answers with the error (C020 at the API)
                    log.warning("registration batch of %d failed: %s", len(batch), exc)
                    for seat in batch:
                        seat.error = exc
                finally:
                    for seat in batch:
                        seat.done.set()

    async def _write(self, batch: list[_Seat]) -> None:
        center = self.center
        ids = await center.store.register_agents([s.enrollee for s in batch])
        key = center.signing_key

        def sign() -> list[str]:
            return [
                "" if revoked else _credentials.issue(key, agent_id, s.enrollee.idc, pubkey=s.pubkey)
                for s, (agent_id, revoked) in zip(batch, ids, strict=True)
            ]

        creds = await trio.to_thread.run_sync(sign) if len(batch) > 8 else sign()
        for seat, (agent_id, revoked), cred in zip(batch, ids, creds, strict=True):
            seat.agent_id, seat.revoked, seat.credential = agent_id, revoked, cred
        self.batches += 1
        self.hosts += len(batch)
