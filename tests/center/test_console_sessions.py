"""Console sessions and one-time login tokens: expiry, single use, bounds (the clock is moved by hand)."""

from __future__ import annotations

from typing import Any

import pytest

from center import _console
from center._console import IDLE, LIFETIME, TOKEN_TTL, Console


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(_console.time, "time", c)
    return c


async def _never(key_id: str, secret: str) -> bool:
    return False


def _console_() -> Console:
    records: list[Any] = []
    return Console(_never, lambda *a: records.append(a))


def test_session_ends_when_idle(clock):
    c = _console_()
    sid, s = c.open_session("k1")
    clock.now += IDLE - 1
    assert c.session(sid) is s  # used: the idle clock starts again
    clock.now += IDLE - 1
    assert c.session(sid) is s
    clock.now += IDLE + 1
    assert c.session(sid) is None
    assert c.session(sid) is None


def test_session_ends_at_its_lifetime_even_when_used(clock):
    c = _console_()
    sid, _ = c.open_session("k1")
    while clock.now < 1_000_000.0 + LIFETIME - IDLE:
        clock.now += IDLE / 2
        assert c.session(sid) is not None
    clock.now = 1_000_000.0 + LIFETIME + 1
    assert c.session(sid) is None


def test_sessions_are_distinct_and_closable(clock):
    c = _console_()
    a, sa = c.open_session("k1")
    b, sb = c.open_session("k1")
    assert a != b and sa.csrf != sb.csrf
    c.close_session(a)
    assert c.session(a) is None and c.session(b) is sb
    assert c.session("") is None and c.session("x" * 500) is None


def test_token_is_single_use_and_short_lived(clock):
    c = _console_()
    t = c.issue_token("k1")
    assert c.redeem_token(t) == "k1"
    assert c.redeem_token(t) is None
    late = c.issue_token("k2")
    clock.now += TOKEN_TTL + 1
    assert c.redeem_token(late) is None
    assert c.redeem_token("") is None


def test_live_sessions_are_bounded(clock, monkeypatch):
    monkeypatch.setattr(_console, "MAX_SESSIONS", 3)
    c = _console_()
    sids = [c.open_session(f"k{i}")[0] for i in range(5)]
    assert [c.session(s) is not None for s in sids] == [False, False, True, True, True]
