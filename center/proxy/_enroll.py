"""Enrollment relayed by the proxy, batched (docs/identity.md).

An agent without an identity sends ``enroll`` as the first message on its
connection. The relay gathers the enrollments that arrive within a few
milliseconds into one ``enrollments`` message on a link to a center, and hands
each agent its own ``enrolled`` from the center's ``enrolled_batch`` (matched
by ``ref``, the relay's number for it). The proxy checks nothing an agent
claims: the center checks token, identity and key proof of every enrollment.

Nothing is lost with a link: enrollments sent on a link that drops before its
answer go out again on the next link (the center upserts hosts by SN, so an
enrollment seen twice is one host). An agent waits at most
:data:`ENROLL_WAIT` seconds, inside the proxy's login deadline; past it, it is
told ``P007`` and enrolls again.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from transports import (
    Channel,
    Enroll,
    Enrolled,
    EnrolledBatch,
    Enrollments,
    ErrorCode,
    TransportError,
)

log = logging.getLogger("starling.proxy")

#: Seconds an agent's enrollment may wait for the center (the login deadline is 10 s).
ENROLL_WAIT = 7.0
#: Seconds the relay waits after the first enrollment to gather a batch.
GATHER = 0.005
#: Enrollments per ``enrollments`` message at most (the center's bound too).
MAX_BATCH = 2000


@dataclass(frozen=True, slots=True)
class Issued:
    """A credential the center issued to an enrollment relayed on one channel: the
    login that follows on that channel needs no check of the center's signature
    (it came over the proxy's authenticated link), only the agent's hello proof."""

    agent_id: str
    credential: str
    public_key: bytes


@dataclass(eq=False)
class _Pending:
    request: Enroll
    done: trio.Event = field(default_factory=trio.Event)
    answer: Enrolled | None = None
    #: The link it was last sent on (None: waiting to be sent).
    sent_on: Channel | None = None


class EnrollRelay:
    """Relays agents' enrollments to a center in batches (see the module docstring).

    :param any_link: the proxy's current link to a center, or None.
    """

    def __init__(self, any_link: Callable[[], Channel | None]) -> None:
        self._any_link = any_link
        self._pending: dict[int, _Pending] = {}
        self._refs = itertools.count(1)
        self._wake = trio.Event()
        #: What the center just issued on each channel, for the login that follows on it.
        self._issued: dict[Channel, Issued] = {}
        #: Enrollments relayed, answered, refused by the center, timed out (statistics).
        self.stats = {"relayed": 0, "enrolled": 0, "refused": 0, "timed_out": 0, "resent": 0}

    async def enroll(self, channel: Channel, request: Enroll) -> bool:
        """Relay one agent's enrollment and answer it on ``channel``; True when enrolled."""
        ref = next(self._refs)
        request.ref = ref
        pending = self._pending[ref] = _Pending(request)
        self._wake.set()
        try:
            with trio.move_on_after(ENROLL_WAIT):
                await pending.done.wait()
        finally:
            del self._pending[ref]
        answer = pending.answer
        if answer is None:
            self.stats["timed_out"] += 1
            answer = Enrolled(code=ErrorCode.P007.value, message="the center did not answer the enrollment in time; enroll again")
        answer.ref = 0
        self.stats["enrolled" if not answer.code else "refused"] += 1
        try:
            await channel.send(answer)
        except TransportError:
            return False
        if answer.code:
            return False
        self._issued[channel] = Issued(answer.agent_id, answer.credential, bytes(request.public_key))
        return True

    def take_issued(self, channel: Channel) -> Issued | None:
        """What the center issued to the enrollment on ``channel`` (once; None if none)."""
        return self._issued.pop(channel, None)

    def answered(self, batch: EnrolledBatch) -> None:
        """A center's answers: each goes to its waiting agent."""
        for answer in batch.items:
            pending = self._pending.get(answer.ref)
            if pending is not None and pending.answer is None:
                pending.answer = answer
                pending.done.set()

    def link_gone(self, channel: Channel) -> None:
        """Enrollments that link carried and nobody answered go out again."""
        again = [p for p in self._pending.values() if p.sent_on is channel and p.answer is None]
        for p in again:
            p.sent_on = None
        if again:
            log.warning("link to a center lost with %d enrollments unanswered: they go out again on the next link", len(again))
            self.stats["resent"] += len(again)
            self._wake.set()

    def link_up(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Send what waits, a batch per wake-up (runs for the proxy's life)."""
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            await trio.sleep(GATHER)  # what arrives meanwhile joins this batch
            link = self._any_link()
            if link is None:
                continue  # link_up wakes us
            unsent = [p for p in self._pending.values() if p.sent_on is None]
            for i in range(0, len(unsent), MAX_BATCH):
                chunk = unsent[i : i + MAX_BATCH]
                for p in chunk:
                    p.sent_on = link  # before the send: a link_gone during it puts them back
                try:
                    await link.send(Enrollments(items=[p.request for p in chunk]))
                except TransportError:
                    for p in chunk:
                        p.sent_on = None
                    break  # the link's end calls link_gone and link_up
                self.stats["relayed"] += len(chunk)

