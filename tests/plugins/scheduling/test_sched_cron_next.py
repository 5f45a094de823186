"""sched.cron.next against run times worked out by hand from the cron rules."""

from __future__ import annotations

import pytest

from agent_core.testing import run_action


async def _runs(schedule: str, start: str, count: int = 3, tz: str = "UTC") -> list[str]:
    out = await run_action(
        "sched.cron.next", {"schedule": schedule, "start": start, "count": count, "tz": tz}
    )
    assert out.ok, out.message
    return [r[:16] for r in out.value["runs"]]


@pytest.mark.parametrize(
    "schedule,start,expected",
    [
        (
            "*/15 * * * *",
            "2024-01-01T00:07:00+00:00",
            ["2024-01-01T00:15", "2024-01-01T00:30", "2024-01-01T00:45"],
        ),
        (
            "5/20 * * * *",
            "2024-01-01T00:00:00+00:00",
            ["2024-01-01T00:05", "2024-01-01T00:25", "2024-01-01T00:45"],
        ),
        (
            "0 0 29 2 *",
            "2024-03-01T00:00:00+00:00",
            ["2028-02-29T00:00", "2032-02-29T00:00", "2036-02-29T00:00"],
        ),
        # Both day fields restricted: the 13th OR any Friday (Sept 2024: Fri 6, 13, 20).
        (
            "0 12 13 * 5",
            "2024-09-01T00:00:00+00:00",
            ["2024-09-06T12:00", "2024-09-13T12:00", "2024-09-20T12:00"],
        ),
        # A day field starting with '*' counts as unrestricted: odd days AND Fridays.
        (
            "0 12 */2 * 5",
            "2024-09-01T00:00:00+00:00",
            ["2024-09-13T12:00", "2024-09-27T12:00", "2024-10-11T12:00"],
        ),
        (
            "30 9 * jan,jul mon-fri",
            "2024-01-30T10:00:00+00:00",
            ["2024-01-31T09:30", "2024-07-01T09:30", "2024-07-02T09:30"],
        ),
        (
            "0 0 * * 7",
            "2024-01-01T00:00:00+00:00",
            ["2024-01-07T00:00", "2024-01-14T00:00", "2024-01-21T00:00"],
        ),
        (
            "@weekly",
            "2024-01-03T00:00:00+00:00",
            ["2024-01-07T00:00", "2024-01-14T00:00", "2024-01-21T00:00"],
        ),
        (
            "@monthly",
            "2024-01-31T23:59:00+00:00",
            ["2024-02-01T00:00", "2024-03-01T00:00", "2024-04-01T00:00"],
        ),
    ],
)
async def test_next_runs(schedule, start, expected):
    assert await _runs(schedule, start) == expected


async def test_time_zone_and_expansion():
    out = await run_action(
        "sched.cron.next",
        {
            "schedule": "0 9 * * *",
            "start": "2024-01-01T00:00:00+00:00",
            "tz": "Asia/Tokyo",
            "count": 2,
        },
    )
    assert out.ok, out.message
    assert out.value["runs"] == ["2024-01-02T09:00:00+09:00", "2024-01-03T09:00:00+09:00"]
    assert out.value["expanded"]["hour"] == [9] and out.value["expanded"]["day_of_week"] == [
        0,
        1,
        2,
        3,
        4,
        5,
        6,
    ]
    out = await run_action("sched.cron.next", {"schedule": "@reboot"})
    assert out.ok and out.value["at_reboot"] and out.value["runs"] == []
    out = await run_action("sched.cron.next", {"schedule": "* * * * *", "count": 2})
    assert out.ok and len(out.value["runs"]) == 2


@pytest.mark.parametrize(
    "schedule,words",
    [
        ("61 * * * *", "minute"),
        ("* * * * * *", "5 fields"),
        ("0 0 * * funday", "day of week"),
        ("*/0 * * * *", "step"),
        ("0 0 31-1 * *", "backwards"),
        ("@fortnightly", "unknown shortcut"),
    ],
)
async def test_invalid_schedules(schedule, words):
    out = await run_action("sched.cron.next", {"schedule": schedule})
    assert out.code == "A002" and words in out.message


async def test_bad_params():
    assert (
        await run_action("sched.cron.next", {"schedule": "* * * * *", "tz": "Mars/Olympus"})
    ).code == "A002"
    assert (await run_action("sched.cron.next", {"schedule": "* * * * *", "count": 0})).code == "A002"
    assert (
        await run_action("sched.cron.next", {"schedule": "* * * * *", "start": "yesterday"})
    ).code == "A002"
