from __future__ import annotations

import datetime
import shutil

import pytest

from agent_core.testing import run_action

HAS_CHAGE = shutil.which("chage") is not None


def _shadow(name: str) -> list[str]:
    with open("/etc/shadow") as fh:
        for line in fh:
            fields = line.rstrip("\n").split(":")
            if fields[0] == name:
                return fields
    return []


def _day(n: str) -> str:
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=int(n))).isoformat()


async def test_aging_read_and_set(temp_user):
    name = temp_user.pw_name
    if not HAS_CHAGE:
        assert (await run_action("user.aging", {"name": name})).code == "A003"
        pytest.skip("chage absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    out = await run_action("user.aging", {"name": name})
    assert out.ok, out.message
    sh = _shadow(name)
    assert out.value["last_change"] == _day(sh[2]) and out.value["max_days"] == int(sh[4])
    assert out.value["must_change"] is False and out.value["account_expires"] is None

    out = await run_action(
        "user.aging.set",
        {
            "name": name,
            "max_days": 90,
            "warn_days": 14,
            "min_days": 1,
            "account_expires": "2031-05-01",
        },
    )
    assert out.ok, out.message
    sh = _shadow(name)
    assert (sh[3], sh[4], sh[5]) == ("1", "90", "14") and _day(sh[7]) == "2031-05-01"
    assert (out.value["max_days"], out.value["warn_days"], out.value["account_expires"]) == (
        90,
        14,
        "2031-05-01",
    )
    assert (
        out.value["password_expires"]
        == (
            datetime.date.fromisoformat(out.value["last_change"]) + datetime.timedelta(days=90)
        ).isoformat()
    )

    out = await run_action(
        "user.aging.set",
        {"name": name, "force_change": True, "account_expires": "never", "max_days": -1},
    )
    assert out.ok and out.value["must_change"] is True and out.value["account_expires"] is None
    assert _shadow(name)[2] == "0"


async def test_aging_errors(temp_user):
    name = temp_user.pw_name
    if not HAS_CHAGE:
        pytest.skip("chage absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    expected = "A002"
    assert (await run_action("user.aging.set", {"name": name})).code == expected
    assert (await run_action("user.aging.set", {"name": name, "max_days": 100000})).code == expected
    assert (
        await run_action("user.aging.set", {"name": name, "account_expires": "01/05/2031"})
    ).code == expected
    assert (await run_action("user.aging.set", {"name": "root", "force_change": True})).code == (
        "A016"
    )
    assert (await run_action("user.aging", {"name": "sttest-no-such-user"})).code == (
        "A017"
    )
