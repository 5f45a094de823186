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

Overload must not multiply the work: an enrollment whose agent gave up stays in
flight at the center, and its answer is kept for :data:`LATE_KEEP` seconds. The
same agent enrolling again (same token, key, identity and version; a fresh proof)
joins the enrollment in flight, or takes the answer that came late, instead of
sending the center a second one. The center checked the key proof of the first;
the login that follows still needs the agent's proof of the same key.
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
#: Seconds an enrollment whose agent stopped waiting is kept (in flight, or answered)
#: for that agent's next attempt.
LATE_KEEP = 120.0


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
    #: What identifies the agent's request apart from its proof (see :func:`_same_request`).
    key: bytes = b""
    done: trio.Event = field(default_factory=trio.Event)
    answer: Enrolled | None = None
    #: The link it was last sent on (None: waiting to be sent).
    sent_on: Channel | None = None
    #: Agents waiting for it now; when the last one gave up (trio.current_time()).
    waiters: int = 0
    abandoned: float | None = None


def _same_request(request: Enroll) -> bytes:
    """An enrollment's content apart from its proof and time: two attempts of one agent
    with one key share it."""
    import hashlib

    import msgspec

    body = msgspec.msgpack.encode((request.token, bytes(request.public_key), request.identity, request.version, request.catalogue_digest))
    return hashlib.sha256(body).digest()


class EnrollRelay:
    """Relays agents' enrollments to a center in batches (see the module docstring).

    :param any_link: the proxy's current link to a center, or None.
    """

    def __init__(self, any_link: Callable[[], Channel | None], *, wait: float = ENROLL_WAIT, keep: float = LATE_KEEP) -> None:
        self._any_link = any_link
        self.wait = wait
        self.keep = keep
        self._pending: dict[int, _Pending] = {}
        #: The same enrollments by their content (:func:`_same_request`).
        self._by_key: dict[bytes, _Pending] = {}
        self._refs = itertools.count(1)
        self._wake = trio.Event()
        self._swept = 0.0
        #: What the center just issued on each channel, for the login that follows on it.
        self._issued: dict[Channel, Issued] = {}
        #: Enrollments relayed, answered, refused by the center, timed out, sent again on a
        #: new link, and attempts that joined one in flight or took a late answer (statistics).
        self.stats = {"relayed": 0, "enrolled": 0, "refused": 0, "timed_out": 0, "resent": 0, "joined": 0}

    def _track(self, request: Enroll) -> _Pending:
        """The enrollment this request waits for: one in flight or answered late for the
        same agent, or a new one to relay."""
        now = trio.current_time()
        if now - self._swept > 5.0:
            self._sweep(now)
        key = _same_request(request)
        pending = self._by_key.get(key)
        if pending is not None and (pending.answer is None or not pending.answer.code):
            self.stats["joined"] += 1
            return pending
        ref = next(self._refs)
        request.ref = ref
        pending = self._pending[ref] = self._by_key[key] = _Pending(request, key)
        self._wake.set()
        return pending

    def _forget(self, pending: _Pending) -> None:
        self._pending.pop(pending.request.ref, None)
        if self._by_key.get(pending.key) is pending:
            del self._by_key[pending.key]

    def _sweep(self, now: float) -> None:
        self._swept = now
        for p in [p for p in self._pending.values() if p.abandoned is not None and now - p.abandoned > self.keep]:
            self._forget(p)

    async def enroll(self, channel: Channel, request: Enroll) -> bool:
        """Relay one agent's enrollment and answer it on ``channel``; True when enrolled."""
        pending = self._track(request)
        pending.waiters += 1
        try:
            with trio.move_on_after(self.wait):
                await pending.done.wait()
        finally:
            pending.waiters -= 1
            if pending.answer is not None or pending.sent_on is None:
                if pending.waiters == 0:
                    self._forget(pending)  # answered, or never sent: nothing to wait for
            elif pending.waiters == 0:
                pending.abandoned = trio.current_time()  # the center may still answer it
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
                if pending.waiters == 0 and answer.code:
                    self._forget(pending)  # a refusal nobody waits for: the next attempt asks again

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
            unsent = [p for p in self._pending.values() if p.sent_on is None and p.answer is None]
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

