"""A third-party plugin wheel distributed from the center to running agents:
signed by a trusted publisher, approved by a second person, loaded without a
restart, declared to the center, upgraded, rolled back, and switched off per host."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import Fleet, starling, up_fleet

pytestmark = pytest.mark.integration

AGENTS = 3


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    home = tmp_path_factory.mktemp("plugins")
    keygen = starling(home, "plugins", "keygen", str(home / "publisher.pem"), "--json", check=True)
    public = json.loads(keygen.stdout)["public_key"]
    with up_fleet(home, AGENTS, {"STARLING_CENTER_PLUGIN_PUBLISHERS": public}) as f:
        yield f


def approved(fleet: Fleet, held: dict[str, Any], approver: dict[str, str]) -> dict[str, Any]:
    """A held plugin job, approved by the second person and waited for."""
    assert held.get("state") == "pending_approval", held
    env = dict(os.environ, STARLING_KEY_ID=approver["key_id"], STARLING_SECRET=approver["secret"])
    old = {k: os.environ.get(k) for k in ("STARLING_KEY_ID", "STARLING_SECRET")}
    os.environ.update({k: env[k] for k in old})
    try:
        assert fleet.json("approve", held["job_id"])["state"] == "running"
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return fleet.json("job", held["job_id"], "--wait")


def until_declared(fleet: Fleet, action: str) -> dict[str, Any]:
    """Agents re-declare their actions after a plugin change; wait for the center to know."""
    deadline = time.monotonic() + 60
    while True:
        doc = fleet.json("run", "--all", "--action", action)
        undeclared = doc.get("error", {}).get("code") == "C023" or any(h["code"] == "A001" for h in doc.get("hosts", []))
        if not undeclared or time.monotonic() > deadline:
            return doc
        time.sleep(0.5)


def test_install_upgrade_rollback_through_the_center(fleet, tmp_path, make_wheel):
    pids = [a["pid"] for a in fleet.profile["agents"]]
    approver = fleet.json("accounts", "create", "plugin-approver", "--approver", "--local")
    assert fleet.json("run", "--all", "--action", "wheeltest.hello")["error"]["code"] == "C023"
    v1, v2 = tmp_path / "starling_wheeltest-1.0-py3-none-any.whl", tmp_path / "starling_wheeltest-2.0-py3-none-any.whl"
    v1.write_bytes(make_wheel("1.0", "hello one"))
    v2.write_bytes(make_wheel("2.0", "hello two"))
    key = str(fleet.home / "publisher.pem")

    unsigned = fleet.json("plugins", "install", "--wheel", str(v1), "--all")
    assert unsigned["error"]["code"] == "C025"
    doc = approved(fleet, fleet.json("plugins", "install", "--wheel", str(v1), "--key", key, "--all"), approver)
    assert {h["state"] for h in doc["hosts"]} == {"succeeded"}, doc
    assert {h["data"]["version"] for h in doc["hosts"]} == {"1.0"}
    doc = until_declared(fleet, "wheeltest.hello")
    assert [h["data"] for h in doc["hosts"]] == [{"text": "hello one"}] * AGENTS

    approved(fleet, fleet.json("plugins", "install", "--wheel", str(v2), "--key", key, "--tag", "even"), approver)
    doc = fleet.json("run", "--all", "--action", "wheeltest.hello")
    assert sorted(h["data"]["text"] for h in doc["hosts"]) == sorted(["hello two"] + ["hello one"] * (AGENTS - 1))

    doc = approved(fleet, fleet.json("plugins", "rollback", "starling_wheeltest", "--tag", "even"), approver)
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

    # Rollback and uninstall speak of the package by the name install reported, and say so
    # when it is not installed; a wheel may not take a built-in plugin's name.
    def held_or_done(doc: dict[str, Any]) -> dict[str, Any]:
        return approved(fleet, doc, approver) if doc.get("state") == "pending_approval" else doc

    doc = held_or_done(fleet.json("plugins", "rollback", "starling_nosuch", "--all"))
    assert {h["code"] for h in doc["hosts"]} == {"A017"} and "is installed" in doc["hosts"][0]["message"], doc
    clash = tmp_path / "starling_wheeltest-3.0-py3-none-any.whl"
    clash.write_bytes(make_wheel("3.0", "pwned", plugin="cmd"))
    doc = held_or_done(fleet.json("plugins", "install", "--wheel", str(clash), "--key", key, "--all"))
    assert {h["code"] for h in doc["hosts"]} == {"A025"}, doc
    missing = fleet.cli("plugins", "install", "--wheel", str(tmp_path / "nowhere.whl"), "--all", "--json")
    assert missing.returncode != 0 and "C001" in missing.stdout + missing.stderr and "Traceback" not in missing.stderr
    missing = fleet.cli("plugins", "sign", str(tmp_path / "nowhere.whl"), "--key", key)
    assert missing.returncode != 0 and "C001" in missing.stdout + missing.stderr and "Traceback" not in missing.stderr
    doc = held_or_done(fleet.json("plugins", "uninstall", "starling-wheeltest", "--all"))
    assert {h["state"] for h in doc["hosts"]} == {"succeeded"}, doc
    assert {h["data"]["version"] for h in doc["hosts"]} == {"1.0"}
    deadline = time.monotonic() + 60
    while fleet.json("run", "--all", "--action", "wheeltest.hello").get("error", {}).get("code") != "C023":
        assert time.monotonic() < deadline, "the center still routes wheeltest.hello after uninstall"
        time.sleep(0.5)

    # no agent restarted for any of this
    assert [a["pid"] for a in fleet.profile["agents"]] == pids
    for pid in pids:
        os.kill(pid, 0)
