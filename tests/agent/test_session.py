"""The agent session on its own: coalesced sends, and the session loop over
the memory carrier with a stand-in proxy (the full protocol with real proxies
is covered by tests/integration and tests/chaos)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import trio
import trio.testing

from agent_core._identity import Identity
from agent_core._outbox import OUTBOX_HIGH_WATER, Outbox
from agent_core._session import (
    AgentSession,
    KeySigner,
    SessionOwner,
    SessionSettings,
)
from transports import Channel, Message, Ping, Result, Task
from transports._signing import new_private_key


class _Recorder(Channel):
    """A channel whose writes block until released, recording each write as it
    starts (``writes``) and as it completes (``written``)."""

    carrier = "test"

    def __init__(self) -> None:
        self.writes: list[list[Message]] = []
        self.written: list[list[Message]] = []
        self.release = trio.Event()

    async def send(self, msg: Message) -> None:
        await self.send_many([msg])

    async def send_many(self, msgs: Sequence[Message]) -> None:
        self.writes.append(list(msgs))
        await self.release.wait()
        self.written.append(list(msgs))

    async def receive(self) -> Message:
        await trio.sleep_forever()
        raise AssertionError

    async def aclose(self) -> None:
        pass

    async def send_raw(self, data: bytes) -> None:
        raise NotImplementedError

    async def abort(self) -> None:
        pass


class _NoJournal:
    epoch = 0.0

    def receive(self, task: Task) -> tuple[bool, str, Result | None]:
        return True, "received", None

    def mark_running(self, task_id: str) -> None:
        pass

    def finish(self, result: Result) -> None:
        pass

    def ack(self, task_ids: list[str]) -> None:
        pass

    def unacked(self) -> list[Result]:
        return []

    def flush(self) -> None:
        pass


class _Owner(SessionOwner):
    statistics: Counter[str] = Counter()


async def _never(task: Task, session: AgentSession) -> Result:
    raise AssertionError("no task in this test")


def _session() -> AgentSession:
    return AgentSession(
        Identity(sn="s1", ip="", hostname="s1", os="", idc="t", tags=[]), journal=_NoJournal(), executor=_never,
        signer=KeySigner(new_private_key()), owner=_Owner(), settings=SessionSettings(),
    )


def _connect(session: AgentSession, channel: Channel, nursery: trio.Nursery) -> None:
    """What a welcomed connection sets up: the channel, its outbox and the outbox's writer."""
    session.channel = channel
    session._outbox = Outbox(channel, session.journal.flush)
    nursery.start_soon(session._outbox.run)


async def test_sends_queued_behind_a_write_go_out_together() -> None:
    session = _session()
    assert await session.send(Ping(seq=0)) is False  # no link: not sent
    channel = _Recorder()
    async with trio.open_nursery() as nursery:
        _connect(session, channel, nursery)
        assert await session.send(Ping(seq=1)) is True
        await trio.testing.wait_all_tasks_blocked()
        assert channel.writes == [[Ping(seq=1)]]  # the first write is in flight
        for seq in (2, 3, 4):
            # Queued behind the write: as good as sent, the caller goes on at once.
            assert await session.send(Ping(seq=seq)) is True
        assert len(channel.writes) == 1
        channel.release.set()
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert channel.written == [[Ping(seq=1)], [Ping(seq=2), Ping(seq=3), Ping(seq=4)]]


async def test_senders_wait_past_the_high_water_mark() -> None:
    session = _session()
    channel = _Recorder()
    done = trio.Event()

    async def one_too_many() -> None:
        await session.send(Ping(seq=OUTBOX_HIGH_WATER + 1))
        done.set()

    async with trio.open_nursery() as nursery:
        _connect(session, channel, nursery)
        await session.send(Ping(seq=0))
        await trio.testing.wait_all_tasks_blocked()
        for seq in range(1, OUTBOX_HIGH_WATER + 1):
            assert await session.send(Ping(seq=seq)) is True
        nursery.start_soon(one_too_many)
        await trio.testing.wait_all_tasks_blocked()
        assert not done.is_set()  # past the mark: it waits for the writer
        channel.release.set()
        await done.wait()
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    sent = [m.seq for batch in channel.written for m in batch]  # type: ignore[attr-defined]
    assert sent == list(range(OUTBOX_HIGH_WATER + 2))
    assert len(channel.written) == 2


async def test_a_cancelled_sender_never_takes_other_senders_messages_down() -> None:
    """Issue 10's 200-terminal hang: a terminal closing (its output task cancelled in
    the middle of a send) lost the echoes of other terminals queued behind it."""
    session = _session()
    channel = _Recorder()
    async with trio.open_nursery() as nursery:
        _connect(session, channel, nursery)
        with trio.CancelScope() as closing:  # one session's output task
            nursery.start_soon(session.send, Ping(seq=1))
            await trio.testing.wait_all_tasks_blocked()
            assert channel.writes == [[Ping(seq=1)]]
            assert await session.send(Ping(seq=2)) is True  # another session's echo, queued
            closing.cancel()
        await trio.testing.wait_all_tasks_blocked()
        channel.release.set()
        with trio.fail_after(5):
            while len(channel.written) < 2:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert channel.written == [[Ping(seq=1)], [Ping(seq=2)]]


async def test_a_new_link_never_carries_the_old_links_queue() -> None:
    session = _session()
    old = _Recorder()
    async with trio.open_nursery() as nursery:
        _connect(session, old, nursery)
        await session.send(Ping(seq=1))
        await trio.testing.wait_all_tasks_blocked()
        await session.send(Ping(seq=2))  # queued on the old link
        session._link_down("p")  # the link broke
        assert await session.send(Ping(seq=9)) is False  # no link now
        new = _Recorder()
        new.release.set()
        _connect(session, new, nursery)
        assert await session.send(Ping(seq=3)) is True
        old.release.set()
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert new.written == [[Ping(seq=3)]]
    assert old.writes == [[Ping(seq=1)]]
