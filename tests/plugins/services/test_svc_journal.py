from __future__ import annotations

import shutil
import uuid

import pytest
import trio

from agent_core.testing import run_action

HAS_JOURNALCTL = shutil.which("journalctl") is not None


async def test_journal_reads_and_filters(journal_file):
    if not HAS_JOURNALCTL:
        assert (await run_action("svc.journal", {"file": journal_file})).code == "A003"
        pytest.skip("journalctl absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    out = await run_action("svc.journal", {"file": journal_file})
    assert out.ok, out.message
    entries = out.value["entries"]
    assert [e["message"] for e in entries] == [
        "boot ok",
        "disk almost full",
        "cannot bind port 80",
        "accepted key",
    ]
    assert entries[2] == {
        **entries[2],
        "unit": "web.service",
        "identifier": "web",
        "pid": 77,
        "priority": 3,
        "hostname": "testhost",
    }
    assert entries[0]["timestamp"] < entries[3]["timestamp"] and entries[0]["time"].endswith("Z")

    out = await run_action("svc.journal", {"file": journal_file, "unit": "demo"})
    assert [e["message"] for e in out.value["entries"]] == ["boot ok", "disk almost full"]
    out = await run_action("svc.journal", {"file": journal_file, "priority": "warning"})
    assert [e["priority"] for e in out.value["entries"]] == [4, 3]
    out = await run_action("svc.journal", {"file": journal_file, "identifier": "sshd"})
    assert [e["message"] for e in out.value["entries"]] == ["accepted key"]
    out = await run_action("svc.journal", {"file": journal_file, "grep": "port [0-9]+"})
    assert [e["message"] for e in out.value["entries"]] == ["cannot bind port 80"]
    out = await run_action("svc.journal", {"file": journal_file, "grep": "nothing matches this"})
    assert out.ok and out.value["entries"] == []
    out = await run_action(
        "svc.journal", {"file": journal_file, "since": "2000-01-01", "until": "2001-01-01"}
    )
    assert out.ok and out.value["entries"] == []


async def test_journal_paging_with_cursor(journal_file):
    if not HAS_JOURNALCTL:
        pytest.skip("journalctl absent on this host: the real path is not exercised here")
    out = await run_action("svc.journal", {"file": journal_file, "lines": 2})
    assert [e["message"] for e in out.value["entries"]] == ["cannot bind port 80", "accepted key"]
    first = await run_action(
        "svc.journal",
        {"file": journal_file, "until": "2100-01-01", "lines": 10, "priority": "info"},
    )
    assert len(first.value["entries"]) == 4
    cursor = (await run_action("svc.journal", {"file": journal_file, "unit": "demo"})).value[
        "cursor"
    ]
    out = await run_action("svc.journal", {"file": journal_file, "after_cursor": cursor})
    assert [e["message"] for e in out.value["entries"]] == ["cannot bind port 80", "accepted key"]


async def test_journal_of_a_running_unit(systemd_host):
    # The systemd host's own journal (journald, no file): a unit's lines, by unit and grep.
    marker = f"starling-journal-{uuid.uuid4().hex[:8]}"
    script = f"/bin/sh -c 'echo {marker}-out; echo {marker}-err >&2; exec sleep 300'"
    with systemd_host.temp_unit(script) as unit:
        systemd_host.systemctl("start", unit)
        for _ in range(100):  # journald stores a line shortly after the unit writes it
            out = await systemd_host.run_action("svc.journal", {"unit": unit})
            assert out.ok, out.message
            mine = [e for e in out.value["entries"] if marker in e["message"]]
            if len(mine) == 2:
                break
            await trio.sleep(0.1)
        assert [e["message"] for e in mine] == [f"{marker}-out", f"{marker}-err"]
        assert {(e["unit"], e["identifier"]) for e in mine} == {(unit, "sh")}
        assert mine[0]["pid"] and mine[0]["timestamp"] <= mine[1]["timestamp"]
        out = await systemd_host.run_action("svc.journal", {"grep": f"{marker}-err", "lines": 5})
        assert [e["message"] for e in out.value["entries"]] == [f"{marker}-err"]
        after = await systemd_host.run_action("svc.journal", {"unit": unit, "after_cursor": out.value["cursor"]})
        assert after.ok


async def test_journal_bad_params(tmp_path):
    if not HAS_JOURNALCTL:
        pytest.skip("journalctl absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    code = "A002"
    assert (await run_action("svc.journal", {"priority": "loud"})).code == code
    assert (await run_action("svc.journal", {"lines": 0})).code == code
    assert (await run_action("svc.journal", {"file": "relative.journal"})).code == code
    assert (await run_action("svc.journal", {"since": "yesterday; rm -rf /"})).code == code
    assert (await run_action("svc.journal", {"since": "not a time"})).code == code
    missing = (await run_action("svc.journal", {"file": str(tmp_path / "none.journal")})).code
    assert missing == "A017"
