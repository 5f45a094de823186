"""sec.failed_logins: binary btmp records (checked against lastb) and auth.log parsing."""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import struct
import subprocess
import time

import pytest

from agent_core.testing import run_action

UTMP = struct.Struct("<hxxi32s4s32s256shhiii16s20s")


def _record(user: str, host: str, ip: bytes, when: int, tty: str = "ssh:notty") -> bytes:
    return UTMP.pack(6, 100, tty.encode(), b"", user.encode(), host.encode(), 0, 0, 0, when, 0, ip, b"")


@pytest.fixture
def btmp(tmp_path):
    now = int(time.time())
    v4 = socket.inet_aton("203.0.113.9") + b"\0" * 12
    v6 = socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    f = tmp_path / "btmp"
    f.write_bytes(
        _record("admin", "203.0.113.9", v4, now - 300)
        + _record("admin", "203.0.113.9", v4, now - 200)
        + _record("root", "2001:db8::1", v6, now - 100)
        + _record("ops", "", b"\0" * 16, now - 3 * 86400, "tty1")
    )
    return f


def _lastb(path) -> list[tuple[str, str, str]]:
    out = subprocess.run(["lastb", "-f", str(path), "-w", "-i", "-s", "-1days"], capture_output=True, text=True).stdout
    return sorted(tuple(line.split()[:3]) for line in out.splitlines() if line.strip() and "begins" not in line)


async def test_btmp_records(btmp):
    out = await run_action("sec.failed_logins", {"path": str(btmp), "since_hours": 24})
    assert out.ok, out.message
    v = out.value
    assert v["source"] == "btmp" and v["total"] == 3
    assert v["users"][0] == {"name": "admin", "count": 2}
    assert {"name": "2001:db8::1", "count": 1} in v["sources"]
    assert [a["user"] for a in v["recent"]] == ["admin", "admin", "root"]
    if shutil.which("lastb"):
        mine = sorted((a["user"], a["tty"], a["source"]) for a in v["recent"])
        assert mine == _lastb(btmp)
    out = await run_action("sec.failed_logins", {"path": str(btmp), "since_hours": 24 * 7, "recent": 0})
    assert out.value["total"] == 4 and out.value["recent"] == []


async def test_auth_log(tmp_path):
    now = datetime.datetime.now()
    stamp = f"{now:%b} {now.day:2d} {now:%H:%M:%S}"
    old = now - datetime.timedelta(days=3)
    old_stamp = f"{old:%b} {old.day:2d} {old:%H:%M:%S}"
    log = tmp_path / "auth.log"
    log.write_text(
        f"{stamp} h sshd[10]: Invalid user oracle from 198.51.100.7 port 4000\n"
        f"{stamp} h sshd[10]: Failed password for invalid user oracle from 198.51.100.7 port 4000 ssh2\n"
        f"{stamp} h sshd[11]: Failed password for root from 198.51.100.7 port 4001 ssh2\n"
        f"{stamp} h sshd[12]: Accepted publickey for ops from 10.0.0.1 port 22 ssh2\n"
        f"{stamp} h su: pam_unix(su:auth): authentication failure; logname=ops uid=1000 euid=0 tty=/dev/pts/0 ruser=ops rhost=  user=root\n"
        f"{old_stamp} h sshd[9]: Failed password for root from 192.0.2.1 port 1 ssh2\n"
    )
    out = await run_action("sec.failed_logins", {"path": str(log), "since_hours": 24})
    assert out.ok, out.message
    v = out.value
    assert v["source"] == "authlog" and v["total"] == 3  # "Invalid user" + "Failed password" counted once
    assert {"name": "198.51.100.7", "count": 2} in v["sources"]
    assert sorted(a["user"] for a in v["recent"]) == ["oracle", "root", "root"]
    assert {a["service"] for a in v["recent"]} == {"sshd", "su"}


def _host_source() -> str | None:
    for path in ("/var/log/btmp", "/var/log/auth.log", "/var/log/secure"):
        if os.path.exists(path):
            return path
    return None


async def test_failed_logins_defaults_and_bad_params(tmp_path):
    out = await run_action("sec.failed_logins", {"since_hours": 24})
    source = _host_source()
    if source is None:
        assert out.code == "A017"
    else:
        assert out.ok and out.value["path"] == source
        if source == "/var/log/btmp" and shutil.which("lastb"):
            assert out.value["total"] == len(_lastb(source))
    assert (await run_action("sec.failed_logins", {"source": "wtmp"})).code == "A002"
    assert (await run_action("sec.failed_logins", {"since_hours": 0})).code == "A002"
    assert (await run_action("sec.failed_logins", {"path": str(tmp_path / "none")})).code == "A017"
