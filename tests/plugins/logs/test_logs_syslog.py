"""log.syslog: parses both syslog line formats, filters, and is A003 without a syslog file."""

from __future__ import annotations

import datetime
import os
import time

import pytest

from agent_core.testing import run_action


def _bsd(t: float) -> str:
    # Classic format pads the day with a blank: "Jan  5 03:04:05".
    d = datetime.datetime.fromtimestamp(t)
    return f"{d:%b} {d.day:2d} {d:%H:%M:%S}"


def _present() -> str | None:
    return next((p for p in ("/var/log/syslog", "/var/log/messages") if os.path.isfile(p)), None)


@pytest.fixture
def syslog_file(tmp_path):
    now = time.time()
    lines = [
        f"{_bsd(now - 7200)} web1 sshd[411]: Accepted publickey for ops from 10.0.0.5 port 5122 ssh2",
        f"{_bsd(now - 600)} web1 kernel: [12345.6789] EXT4-fs warning (device sda1): ext4_end_bio:345: I/O error 10",
        f"{_bsd(now - 300)} web1 CRON[999]: (root) CMD (run-parts /etc/cron.hourly)",
        "a line nobody formatted",
        datetime.datetime.fromtimestamp(now - 60).astimezone().isoformat(timespec="microseconds")
        + " web1 sshd[412]: Failed password for invalid user admin from 203.0.113.9 port 4242 ssh2",
    ]
    f = tmp_path / "syslog"
    f.write_text("\n".join(lines) + "\n")
    return f, now


async def test_syslog_parse_and_filters(syslog_file):
    f, now = syslog_file
    out = await run_action("log.syslog", {"path": str(f)})
    assert out.ok, out.message
    e = out.value["entries"]
    assert len(e) == 5 and out.value["scanned"] == 5
    assert e[0]["program"] == "sshd" and e[0]["pid"] == 411 and e[0]["host"] == "web1"
    assert abs(e[0]["time"] - (now - 7200)) < 2
    assert e[1]["program"] == "kernel" and "pid" not in e[1] and e[1]["message"].startswith("[12345.6789] EXT4")
    assert e[3] == {"message": "a line nobody formatted"}
    assert e[4]["pid"] == 412 and abs(e[4]["time"] - (now - 60)) < 2
    out = await run_action("log.syslog", {"path": str(f), "program": "sshd"})
    assert [x["pid"] for x in out.value["entries"]] == [411, 412]
    out = await run_action("log.syslog", {"path": str(f), "pattern": r"Failed password .* from (\S+)"})
    assert len(out.value["entries"]) == 1
    out = await run_action("log.syslog", {"path": str(f), "since_minutes": 15})
    assert [x.get("program") for x in out.value["entries"]] == ["kernel", "CRON", None, "sshd"]
    out = await run_action("log.syslog", {"path": str(f), "lines": 2})
    assert [x["message"][:6] for x in out.value["entries"]] == ["a line", "Failed"]
    assert out.value["truncated"] is True


async def test_syslog_default_file_or_unavailable():
    present = _present()
    out = await run_action("log.syslog", {"lines": 5})
    if present is None:
        assert out.code == "A003" and "journal" in out.message
    else:
        assert out.ok and out.value["path"] == present


async def test_syslog_errors(tmp_path):
    assert (await run_action("log.syslog", {"path": str(tmp_path / "none")})).code == "A017"
    assert (await run_action("log.syslog", {"path": str(tmp_path), "pattern": "("})).code == "A002"
    assert (await run_action("log.syslog", {"path": "syslog"})).code == "A002"
    assert (await run_action("log.syslog", {"since_minutes": 0})).code == "A002"
