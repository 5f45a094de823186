"""A third-party plugin wheel distributed from the center to running agents,
loaded without a restart, upgraded, rolled back, and switched off per host."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.integration

AGENTS = 3


def test_install_upgrade_rollback_through_the_center(fleet, tmp_path, make_wheel):
    pids = [a["pid"] for a in fleet.profile["agents"]]
    assert {h["code"] for h in fleet.json("run", "--all", "--action", "wheeltest.hello")["hosts"]} == {"A001"}
    v1, v2 = tmp_path / "starling_wheeltest-1.0-py3-none-any.whl", tmp_path / "starling_wheeltest-2.0-py3-none-any.whl"
    v1.write_bytes(make_wheel("1.0", "hello one"))
    v2.write_bytes(make_wheel("2.0", "hello two"))

    doc = fleet.json("plugins", "install", "--wheel", str(v1), "--all")
    assert {h["state"] for h in doc["hosts"]} == {"succeeded"}, doc
    assert {h["data"]["version"] for h in doc["hosts"]} == {"1.0"}
    doc = fleet.json("run", "--all", "--action", "wheeltest.hello")
    assert [h["data"] for h in doc["hosts"]] == [{"text": "hello one"}] * AGENTS

    fleet.json("plugins", "install", "--wheel", str(v2), "--tag", "even")
    doc = fleet.json("run", "--all", "--action", "wheeltest.hello")
    assert sorted(h["data"]["text"] for h in doc["hosts"]) == sorted(["hello two"] + ["hello one"] * (AGENTS - 1))

    doc = fleet.json("plugins", "rollback", "starling_wheeltest", "--tag", "even")
    assert {h["data"]["version"] for h in doc["hosts"]} == {"1.0"}
    doc = fleet.json("run", "--all", "--action", "wheeltest.hello")
    assert [h["data"] for h in doc["hosts"]] == [{"text": "hello one"}] * AGENTS

    listing = fleet.json("plugins", "list", "--all")
    for h in listing["hosts"]:
        names = {p["name"]: p for p in h["data"]["plugins"]}
        assert names["wheeltest"]["version"] == "1.0" and names["wheeltest"]["available"]
        assert h["data"]["count"] >= 150

    fleet.json("plugins", "disable", "wheeltest", "--tag", "odd")
    doc = fleet.json("run", "--all", "--action", "wheeltest.hello")
    assert sorted(h["code"] for h in doc["hosts"]) == sorted(["A012"] * ((AGENTS + 1) // 2) + [""] * (AGENTS // 2))
    fleet.json("plugins", "enable", "wheeltest", "--all")

    # no agent restarted for any of this
    assert [a["pid"] for a in fleet.profile["agents"]] == pids
    for pid in pids:
        os.kill(pid, 0)
