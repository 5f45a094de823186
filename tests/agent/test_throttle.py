"""The throttle defers work on an overloaded host or an over-budget agent
(psutil behind a probe; a fake here, with trio's MockClock)."""

from __future__ import annotations

import time

import pytest
import trio
import trio.testing

from agent_core import ActionError
from agent_core._throttle import Throttle


class FakeProbe:
    def __init__(self, loads, rss=10.0):
        self.loads = list(loads)
        self.rss = rss
        self.calls = 0

    def load_per_cpu(self):
        self.calls += 1
        return self.loads.pop(0) if len(self.loads) > 1 else self.loads[0]

    def agent_rss_mb(self):
        return self.rss


@pytest.fixture
def autojump_clock():
    return trio.testing.MockClock(autojump_threshold=0)


async def test_defers_until_load_drops(autojump_clock):
    probe = FakeProbe([9.0, 9.0, 9.0, 0.5])
    t = Throttle(max_load_per_cpu=4, mem_budget_mb=100, max_concurrent=2, probe=probe)
    seen = []

    async def watch():
        while t.deferred == 0:
            await trio.sleep(0.1)
        seen.append(t.describe())

    start = trio.current_time()
    async with trio.open_nursery() as n:
        n.start_soon(watch)
        await t.wait_ok(time.time() + 3600)
    assert trio.current_time() - start == pytest.approx(3.0)
    assert seen and "host load 9.0/cpu" in seen[0]
    assert t.describe() == "" and t.deferred == 0


async def test_gives_up_at_the_deadline_with_a013():
    t = Throttle(max_load_per_cpu=4, mem_budget_mb=100, max_concurrent=2, probe=FakeProbe([0.1], rss=500.0))
    with pytest.raises(ActionError) as info:
        await t.wait_ok(time.time() + 0.5)
    assert info.value.code.value == "A013" and "agent memory 500 MB" in info.value.message


async def test_no_wait_within_budget_and_concurrency_limit(autojump_clock):
    t = Throttle(max_load_per_cpu=4, mem_budget_mb=100, max_concurrent=1, probe=FakeProbe([1.0]))
    await t.wait_ok(time.time() + 10)
    running = []

    async def job(i):
        async with t.limiter:
            running.append(i)
            assert t.limiter.borrowed_tokens == 1
            await trio.sleep(1)

    async with trio.open_nursery() as n:
        for i in range(3):
            n.start_soon(job, i)
        await trio.sleep(0.5)
        assert "2 task(s) queued" in t.describe()
    assert sorted(running) == [0, 1, 2]
