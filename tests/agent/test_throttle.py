"""The throttle defers work under real, current CPU pressure or an
over-budget agent (psutil and /proc behind a probe; a fake here, with trio's
MockClock)."""

from __future__ import annotations

import time

import pytest
import trio
import trio.testing

from agent_core import ActionError
from agent_core._throttle import Throttle


class FakeProbe:
    """Reports a sequence of PSI pressures (percent), or, with ``psi=False``,
    a sequence of run-queue lengths per CPU as a kernel without PSI would."""

    def __init__(self, values, rss=10.0, psi=True):
        self.values = list(values)
        self.rss = rss
        self.psi = psi
        self.calls = 0

    def _next(self):
        self.calls += 1
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]

    def cpu_pressure(self):
        return self._next() if self.psi else None

    def runnable_per_cpu(self):
        assert not self.psi, "the run queue is only the fallback"
        return self._next()

    def agent_rss_mb(self):
        return self.rss


@pytest.fixture
def autojump_clock():
    return trio.testing.MockClock(autojump_threshold=0)


async def test_defers_until_the_run_queue_drops_without_psi(autojump_clock):
    probe = FakeProbe([9.0, 9.0, 9.0, 0.5], psi=False)
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
    assert seen and "9.0 runnable tasks/cpu above 4" in seen[0]
    assert t.describe() == "" and t.deferred == 0


async def test_gives_up_at_the_deadline_with_a013():
    t = Throttle(max_load_per_cpu=4, mem_budget_mb=100, max_concurrent=2, probe=FakeProbe([1.0], rss=500.0))
    with pytest.raises(ActionError) as info:
        await t.wait_ok(time.time() + 0.5)
    assert info.value.code.value == "A013" and "agent memory 500 MB" in info.value.message


async def test_no_wait_within_budget_and_concurrency_limit(autojump_clock):
    t = Throttle(max_load_per_cpu=4, mem_budget_mb=100, max_concurrent=1, probe=FakeProbe([5.0]))
    assert await t.wait_ok(time.time() + 10) == ""
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


async def test_defers_on_cpu_pressure_with_the_reason_visible(autojump_clock):
    probe = FakeProbe([99.0, 97.0, 95.0, 40.0])
    t = Throttle(max_load_per_cpu=4, mem_budget_mb=100, max_concurrent=2, max_cpu_pressure=90, probe=probe)
    seen = []

    async def watch():
        while t.deferred == 0:
            await trio.sleep(0.1)
        seen.append(t.describe())

    start = trio.current_time()
    async with trio.open_nursery() as n:
        n.start_soon(watch)
        why = await t.wait_ok(time.time() + 3600)
    assert trio.current_time() - start == pytest.approx(3.0)
    assert seen == ["deferring: cpu pressure 99% (PSI some avg10) above 90%"]
    assert why == "deferred 3.0s: cpu pressure 99% (PSI some avg10) above 90%"
    assert t.describe() == ""


async def test_a_start_up_burst_that_is_over_does_not_hold_a_command(autojump_clock):
    # After 100 agents started on 2 cores the 1-minute load average is still
    # ~50/cpu for a minute, but the burst is over: PSI "some avg10" decays
    # within seconds. Modelled as the kernel does: avg10 decays by e^(-2/10)
    # every 2 s sample once nothing waits for a CPU any more.
    import math

    pressures = [100.0 * math.exp(-0.2 * i) for i in range(30)]
    t = Throttle(max_load_per_cpu=4, mem_budget_mb=100, max_concurrent=2, probe=FakeProbe(pressures))
    start = trio.current_time()
    await t.wait_ok(time.time() + 3600)
    # 100% -> below 90% after one poll: the command waits about a second, not a minute.
    assert trio.current_time() - start <= 1.0


def test_psi_file_is_read_and_absence_is_none(tmp_path):
    from agent_core._throttle import read_psi_some_avg10

    psi = tmp_path / "cpu"
    psi.write_text("some avg10=61.16 avg60=14.99 avg300=3.70 total=15805177\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    assert read_psi_some_avg10(str(psi)) == pytest.approx(61.16)
    assert read_psi_some_avg10(str(tmp_path / "missing")) is None
    psi.write_text("garbage\n")
    assert read_psi_some_avg10(str(psi)) is None


async def test_a_within_budget_verdict_stands_for_half_a_poll(autojump_clock):
    """Many tasks starting at once read the probes once, not once each; pressure that
    comes is seen within half a poll."""
    probe = FakeProbe([10.0, 99.0, 10.0])
    t = Throttle(max_load_per_cpu=4, mem_budget_mb=100, max_concurrent=2, max_cpu_pressure=90, probe=probe)
    for _ in range(5):
        assert await t.wait_ok(time.time() + 3600) == ""
    assert probe.calls == 1
    await trio.sleep(0.6)
    assert (await t.wait_ok(time.time() + 3600)).startswith("deferred 1.0s: cpu pressure 99%")
