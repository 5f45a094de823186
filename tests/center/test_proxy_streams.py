"""The proxy's stream relay (center/proxy/_streams.py) over real in-memory channels:
routing both ways, coalescing, isolation between agents, bounds and endings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

import center.proxy._streams as relay_module
from center.proxy._streams import MAX_STREAM_QUEUED, StreamRelay, coalesce
from transports import StreamClose, StreamCredit, StreamData, StreamOpen, StreamResize


class FakeChannel:
    """Records what is sent; ``gate`` can hold sends to let a queue build up."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.gate = trio.Event()
        self.gate.set()
        self.closed = False

    async def send(self, msg: Any) -> None:
        await self.gate.wait()
        self.sent.append(msg)


async def wait_for(predicate: Any) -> None:
    with trio.fail_after(5):
        while not predicate():
            await trio.sleep(0.005)


def test_coalesce_merges_only_consecutive_data():
    msgs = [StreamData(stream_id=1, seq=1, data=b"a"), StreamData(stream_id=1, seq=2, data=b"b"),
            StreamResize(stream_id=1, cols=80, rows=24), StreamData(stream_id=1, seq=3, data=b"c")]
    out = coalesce(msgs)
    assert [type(m).__name__ for m in out] == ["StreamData", "StreamResize", "StreamData"]
    assert out[0].data == b"ab" and out[0].seq == 2


@asynccontextmanager
async def _relay() -> AsyncIterator[tuple[StreamRelay, FakeChannel, FakeChannel]]:
    """A relay for one agent ("a1"), its center link and the agent's channel, both fakes."""
    link, agent = FakeChannel(), FakeChannel()
    async with trio.open_nursery() as nursery:
        yield StreamRelay({"a1": agent}.get, nursery.start_soon), link, agent
        nursery.cancel_scope.cancel()


async def test_routes_both_ways_and_coalesces_while_the_link_is_busy():
    link, agent, other = FakeChannel(), FakeChannel(), FakeChannel()
    channels = {"a1": agent, "a2": other}
    async with trio.open_nursery() as nursery:
        relay = StreamRelay(channels.get, nursery.start_soon)
        await relay.from_center(link, StreamOpen(stream_id=5, kind="pty", agent_id="a1"))
        await wait_for(lambda: agent.sent)
        assert isinstance(agent.sent[0], StreamOpen)
        # Output while the center link is busy: many small writes, one frame.
        link.gate = trio.Event()
        for i in range(50):
            relay.from_agent("a1", StreamData(stream_id=5, seq=i + 1, data=b"x"))
        await trio.sleep(0.05)
        link.gate.set()
        await wait_for(lambda: sum(len(m.data) for m in link.sent if isinstance(m, StreamData)) == 50)
        assert len([m for m in link.sent if isinstance(m, StreamData)]) <= 2
        # Another agent cannot write into this stream.
        relay.from_agent("a2", StreamData(stream_id=5, data=b"injected"))
        await relay.from_center(link, StreamData(stream_id=5, data=b"ls\r"))
        await wait_for(lambda: any(isinstance(m, StreamData) for m in agent.sent))
        assert not any(b"injected" in getattr(m, "data", b"") for m in link.sent)
        assert other.sent == []
        # The agent goes away: the center hears P002 and the route is gone.
        relay.agent_gone("a1")
        await wait_for(lambda: any(isinstance(m, StreamClose) for m in link.sent))
        close = [m for m in link.sent if isinstance(m, StreamClose)][0]
        assert close.code == "P002" and 5 not in relay.routes
        nursery.cancel_scope.cancel()


async def test_unknown_agent_and_stream_are_refused():
    link = FakeChannel()
    async with trio.open_nursery() as nursery:
        relay = StreamRelay({}.get, nursery.start_soon)
        await relay.from_center(link, StreamOpen(stream_id=9, kind="pty", agent_id="nobody"))
        await relay.from_center(link, StreamData(stream_id=10, data=b"x"))
        await relay.from_center(link, StreamCredit(stream_id=11, grant=65536))  # moot: dropped
        await wait_for(lambda: len(link.sent) >= 2)
        await trio.sleep(0.05)
        assert [(m.stream_id, m.code) for m in link.sent] == [(9, "P001"), (10, "P001")]
        nursery.cancel_scope.cancel()


async def test_an_answer_for_an_ended_stream_comes_after_the_agents_close():
    """The agent's last output and close are queued up to a busy center link; the route ends
    when the proxy takes the close. Input the center sent meanwhile is answered P001 behind
    them, so the center reads the agent's close (exit status) first; its credit is dropped."""
    async with _relay() as (relay, link, agent):
        await relay.from_center(link, StreamOpen(stream_id=8, kind="pty", agent_id="a1"))
        await wait_for(lambda: agent.sent)
        link.gate = trio.Event()  # the center link is busy
        relay.from_agent("a1", StreamData(stream_id=8, data=b"bye"))
        relay.from_agent("a1", StreamClose(stream_id=8, status=5))
        await relay.from_center(link, StreamCredit(stream_id=8, seq=3, grant=65536))
        await relay.from_center(link, StreamData(stream_id=8, seq=4, data=b"ls\r"))
        link.gate.set()
        await wait_for(lambda: len([m for m in link.sent if isinstance(m, StreamClose)]) == 2)
        ended = [(type(m).__name__, getattr(m, "status", None), getattr(m, "code", "")) for m in link.sent]
        assert ended == [("StreamData", None, ""), ("StreamClose", 5, ""), ("StreamClose", None, "P001")]


def closes(channel: FakeChannel) -> list[str]:
    return [m.code for m in channel.sent if isinstance(m, StreamClose)]


async def test_queue_bound_closes_the_stream_both_ways():
    async with _relay() as (relay, link, agent):
        await relay.from_center(link, StreamOpen(stream_id=3, kind="pty", agent_id="a1"))
        await wait_for(lambda: agent.sent)
        link.gate = trio.Event()  # the center link is stuck
        chunk = b"y" * 65536
        for _ in range(MAX_STREAM_QUEUED // len(chunk) + 2):
            relay.from_agent("a1", StreamData(stream_id=3, data=chunk))
        assert 3 not in relay.routes and relay.statistics["overruns"] == 1
        link.gate.set()
        await wait_for(lambda: closes(agent) and closes(link))
        assert closes(agent) == closes(link) == ["A024"]


async def test_a_flooding_stream_never_closes_its_neighbours():
    """Two sessions of one agent share the center link: the one that floods past its own
    bound is closed; the quiet one keeps its queued data and goes on (before, one 4 MiB
    queue per link closed whichever stream wrote next, often the quiet one)."""
    async with _relay() as (relay, link, agent):
        for sid in (1, 2):
            await relay.from_center(link, StreamOpen(stream_id=sid, kind="pty", agent_id="a1"))
        await wait_for(lambda: len(agent.sent) == 2)
        link.gate = trio.Event()  # the center link is stuck
        chunk = b"y" * 65536
        for i in range(MAX_STREAM_QUEUED // len(chunk) + 2):
            relay.from_agent("a1", StreamData(stream_id=1, data=chunk))
            relay.from_agent("a1", StreamData(stream_id=2, data=b"k%d" % i))
        relay.from_agent("a1", StreamData(stream_id=2, data=b"-end"))
        assert 1 not in relay.routes and 2 in relay.routes and relay.statistics["overruns"] == 1
        link.gate.set()
        await wait_for(lambda: closes(link) and b"-end" in b"".join(m.data for m in link.sent if isinstance(m, StreamData) and m.stream_id == 2))
        assert [(m.stream_id, m.code) for m in link.sent if isinstance(m, StreamClose)] == [(1, "A024")]
        quiet = b"".join(m.data for m in link.sent if isinstance(m, StreamData) and m.stream_id == 2)
        assert quiet == b"".join(b"k%d" % i for i in range(MAX_STREAM_QUEUED // len(chunk) + 2)) + b"-end"
        # The flooder's queued output was withdrawn with its close: nothing of it after it.
        flood_after_close = [m for m in link.sent[[isinstance(m, StreamClose) for m in link.sent].index(True):] if m.stream_id == 1]
        assert all(isinstance(m, StreamClose) for m in flood_after_close)


async def test_past_the_links_bound_the_largest_stream_goes(monkeypatch):
    monkeypatch.setattr(relay_module, "MAX_QUEUED", 1024 * 1024)
    async with _relay() as (relay, link, agent):
        for sid in (1, 2, 3):
            await relay.from_center(link, StreamOpen(stream_id=sid, kind="pty", agent_id="a1"))
        await wait_for(lambda: len(agent.sent) == 3)
        link.gate = trio.Event()
        relay.from_agent("a1", StreamData(stream_id=1, data=b"q" * 1000))
        relay.from_agent("a1", StreamData(stream_id=2, data=b"b" * 600_000))
        relay.from_agent("a1", StreamData(stream_id=3, data=b"s" * 300_000))
        relay.from_agent("a1", StreamData(stream_id=3, data=b"s" * 300_000))  # the link is past 1 MiB now
        assert sorted(relay.routes) == [1, 3]
        link.gate.set()
        await wait_for(lambda: closes(link))
        assert [(m.stream_id, m.code) for m in link.sent if isinstance(m, StreamClose)] == [(2, "A024")]


async def test_credit_is_relayed_down_in_order():
    async with _relay() as (relay, link, agent):
        await relay.from_center(link, StreamOpen(stream_id=6, kind="pty", agent_id="a1"))
        await relay.from_center(link, StreamData(stream_id=6, seq=1, data=b"a", mac=b"m" * 16))
        await relay.from_center(link, StreamCredit(stream_id=6, seq=2, grant=65536, mac=b"m" * 16))
        await relay.from_center(link, StreamData(stream_id=6, seq=3, data=b"b", mac=b"m" * 16))
        await wait_for(lambda: len(agent.sent) == 4)
        assert [type(m).__name__ for m in agent.sent] == ["StreamOpen", "StreamData", "StreamCredit", "StreamData"]
        assert agent.sent[2].grant == 65536


async def test_center_link_lost_closes_at_the_agent():
    async with _relay() as (relay, link, agent):
        await relay.from_center(link, StreamOpen(stream_id=4, kind="pty", agent_id="a1"))
        relay.link_gone(link)
        await wait_for(lambda: closes(agent))
        assert closes(agent) == ["P007"]
