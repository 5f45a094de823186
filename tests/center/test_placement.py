"""Placement: own IDC first, borrowing from other IDCs (with a cap) when the
own IDC's proxies are gone or full."""

from __future__ import annotations

from center._placement import PROXY_FRESH, Pending, home_room, place
from center._rows import ProxyRow

NOW = 1_000_000.0


def _p(pid, idc, connections=0, capacity=100, online=True, age=1.0):
    return ProxyRow(id=pid, idc=idc, connections=connections, capacity=capacity, online=online, urls=[f"tcp://127.0.0.1:1/{pid}"],
                    last_seen=NOW - age, load1=0.0, cpus=1, rss=0, revoked=False)


def _ids(rows):
    return [r.id for r in rows]


def test_own_idc_least_loaded_first():
    rows = [_p("e1", "east", 50), _p("e2", "east", 10), _p("w1", "west", 0)]
    chosen, borrowed = place("east", rows, assigned={}, borrowed={}, now=NOW, jitter=False)
    assert _ids(chosen) == ["e2", "e1"] and not borrowed


def test_agents_sent_since_the_last_report_count_as_load():
    rows = [_p("e1", "east", 10), _p("e2", "east", 12)]
    chosen, _ = place("east", rows, assigned={"e1": 5}, borrowed={}, now=NOW, jitter=False)
    assert _ids(chosen) == ["e2", "e1"]


def test_borrows_when_the_own_idc_is_gone_offline_or_silent():
    rows = [_p("e1", "east", online=False), _p("e2", "east", age=PROXY_FRESH + 1), _p("w1", "west", 30), _p("w2", "west", 20)]
    chosen, borrowed = place("east", rows, assigned={}, borrowed={}, now=NOW, jitter=False)
    assert _ids(chosen) == ["w2", "w1"] and borrowed


def test_borrows_when_the_own_idc_is_full_and_keeps_own_as_last_resort():
    rows = [_p("e1", "east", 100, capacity=100), _p("w1", "west", 10)]
    chosen, borrowed = place("east", rows, assigned={}, borrowed={}, now=NOW, jitter=False)
    assert _ids(chosen) == ["w1", "e1"] and borrowed


def test_borrowing_is_capped_per_lender():
    rows = [_p("w1", "west", 60, capacity=100), _p("w2", "west", 10, capacity=100)]
    chosen, borrowed = place("east", rows, assigned={}, borrowed={"w2": 50}, share=0.5, now=NOW, jitter=False)
    assert _ids(chosen) == ["w1"] and borrowed  # w2 already lends half its capacity
    chosen, borrowed = place("east", rows, assigned={}, borrowed={"w1": 50, "w2": 50}, share=0.5, now=NOW)
    assert chosen == [] and not borrowed  # nothing left to lend: the agent retries later


def test_a_full_lender_is_not_offered():
    rows = [_p("w1", "west", 100, capacity=100)]
    chosen, _ = place("east", rows, assigned={}, borrowed={}, now=NOW)
    assert chosen == []


def test_home_room_leaves_headroom_so_a_full_idc_does_not_ping_pong():
    from center._placement import RETURN_FILL, home_room

    rows = [_p("e1", "east", 50, capacity=100), _p("e2", "east", 95, capacity=100), _p("w1", "west", 10, capacity=0),
            _p("x1", "gone", 0, online=False)]
    room = home_room(rows, {"e1": 10}, NOW)
    assert room["east"] == int(RETURN_FILL * 100) - 60  # e2 is above the fill line: no room there
    assert room["west"] > 10**6 and "gone" not in room
    assert home_room([_p("e1", "east", 90, capacity=100)], {}, NOW) == {}


def test_a_zero_share_turns_borrowing_off():
    rows = [_p("w1", "west", 0, capacity=0)]
    assert place("east", rows, assigned={}, borrowed={}, share=0.0, now=NOW) == ([], False)
    assert place("east", rows, assigned={}, borrowed={}, share=0.5, now=NOW)[1] is True


def test_agents_sent_to_a_proxy_count_until_its_reports_can_count_them() -> None:
    """A load report does not free the room of agents placed just before it (they may
    not have logged in yet): forgetting them overfilled proxies, whose drains sent
    agents back and forth between IDCs."""
    pending = Pending(grace=10.0)
    pending.add("e1", NOW - 30)  # long ago: in e1's connections by now
    for _ in range(5):
        pending.add("e1", NOW - 1)  # just placed: maybe not logged in yet
    pending.reported("e1", NOW)
    assert pending.counts(NOW) == {"e1": 5}
    rows = [_p("e1", "east", connections=36, capacity=40)]
    assert place("east", rows, assigned=pending.counts(NOW), borrowed={}, now=NOW, jitter=False)[0][0].id == "e1"
    # ... 36 logged in + 5 on their way = 41 > 40: the next agent goes elsewhere.
    west = _p("w1", "west", connections=0, capacity=40)
    chosen, borrowed = place("east", [*rows, west], assigned=pending.counts(NOW), borrowed={}, now=NOW, jitter=False)
    assert borrowed and chosen[0].id == "w1"
    assert pending.counts(NOW + 11) == {}


def test_agents_asked_home_count_against_their_idcs_room() -> None:
    rows = [_p("e1", "east", connections=20, capacity=40)]
    assert home_room(rows, {}, NOW) == {"east": 16}  # 90 % of 40, less 20
    assert home_room(rows, {"idc:east": 10}, NOW) == {"east": 6}
    assert home_room(rows, {"idc:east": 16}, NOW) == {}
