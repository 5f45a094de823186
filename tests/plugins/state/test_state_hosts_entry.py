"""state.hosts.entry: on a temp copy of /etc/hosts: add, move a name, idempotence, removal, dry-run."""

from __future__ import annotations

import shutil

import pytest

from agent_core.testing import run_action


@pytest.fixture
def hosts(tmp_path):
    f = tmp_path / "hosts"
    shutil.copy("/etc/hosts", f)
    with open(f, "a") as fh:
        fh.write("# app servers\n10.0.0.5\tdb db.internal\t# old primary\n10.0.0.9 cache\n")
    return f


async def test_hosts_entry_lifecycle(hosts):
    original = hosts.read_text()
    want = {"ip": "10.0.0.7", "names": ["db", "db.internal"], "path": str(hosts)}
    out = await run_action("state.hosts.entry", {**want, "dry_run": True})
    assert out.ok and out.value["changed"] and "+10.0.0.7\tdb db.internal" in out.value["diff"]
    assert "-10.0.0.5\tdb db.internal\t# old primary" in out.value["diff"] and hosts.read_text() == original
    out = await run_action("state.hosts.entry", want)
    assert out.ok, out.message
    text = hosts.read_text()
    assert "10.0.0.5" not in text and text.endswith("10.0.0.9 cache\n10.0.0.7\tdb db.internal\n")
    assert text.startswith(original.split("# app servers")[0])  # everything before is untouched
    assert (await run_action("state.hosts.entry", want)).value["changed"] is False
    out = await run_action("state.hosts.entry", {"ip": "10.0.0.9", "names": ["cache", "redis"], "path": str(hosts)})
    assert "10.0.0.9\tredis" not in hosts.read_text() and "10.0.0.9\tcache redis\n" in hosts.read_text()
    out = await run_action("state.hosts.entry", {"ip": "10.0.0.7", "names": ["db.internal"], "present": False, "path": str(hosts)})
    assert out.value["changed"] and "10.0.0.7\tdb\n" in hosts.read_text()
    out = await run_action("state.hosts.entry", {"ip": "10.0.0.7", "names": ["db"], "present": False, "path": str(hosts)})
    assert "10.0.0.7" not in hosts.read_text()


async def test_hosts_ipv6_and_errors(hosts):
    out = await run_action("state.hosts.entry", {"ip": "2001:db8:0::1", "names": ["v6.example"], "path": str(hosts)})
    assert out.ok and "2001:db8::1\tv6.example\n" in hosts.read_text()
    assert (await run_action("state.hosts.entry", {"ip": "2001:db8::1", "names": ["v6.example"], "path": str(hosts)})).value["changed"] is False
    assert (await run_action("state.hosts.entry", {"ip": "10.0.0.256", "names": ["x"], "path": str(hosts)})).code == "A002"
    assert (await run_action("state.hosts.entry", {"ip": "10.0.0.1", "names": ["bad name"], "path": str(hosts)})).code == "A002"
    assert (await run_action("state.hosts.entry", {"ip": "10.0.0.1", "names": [], "path": str(hosts)})).code == "A002"
    assert (await run_action("state.hosts.entry", {"ip": "10.0.0.1", "names": ["x"], "path": "hosts"})).code == "A002"
