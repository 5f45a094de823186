from __future__ import annotations

import shutil
import subprocess

from agent_core.testing import run_action

USER_PROCESS, DEAD_PROCESS, BOOT_TIME, RUN_LVL, LOGIN_PROCESS = 7, 8, 2, 1, 6
T0 = 1_700_000_000


def _wtmp(utmp_record) -> bytes:
    r = utmp_record
    return b"".join(
        [
            r(BOOT_TIME, user="reboot", line="~", host="6.1.0-test", when=T0),
            r(USER_PROCESS, user="alice", line="pts/0", host="192.0.2.7", pid=1000, when=T0 + 100),
            r(USER_PROCESS, user="bob", line="pts/1", host="192.0.2.8", pid=1001, when=T0 + 200),
            r(DEAD_PROCESS, line="pts/0", pid=1000, when=T0 + 400),
            r(RUN_LVL, user="shutdown", line="~", host="6.1.0-test", when=T0 + 1000),
            r(BOOT_TIME, user="reboot", line="~", host="6.1.0-test", when=T0 + 1100),
            r(
                USER_PROCESS,
                user="dave",
                line="pts/2",
                host="198.51.100.1",
                pid=2000,
                when=T0 + 1300,
            ),
            r(BOOT_TIME, user="reboot", line="~", host="6.1.0-test", when=T0 + 2000),
            r(USER_PROCESS, user="carol", line="tty1", pid=3000, when=T0 + 2100),
        ]
    )


def _last_users(path: str, failed: bool = False) -> list[str]:
    tool = "lastb" if failed else "last"
    res = subprocess.run([tool, "-f", path, "-w"], capture_output=True, text=True)
    return [
        ln.split()[0]
        for ln in res.stdout.splitlines()
        if ln.strip() and not ln.startswith(("wtmp", "btmp", "reboot", "shutdown"))
    ]


async def test_last_pairs_sessions(tmp_path, utmp_record):
    path = tmp_path / "wtmp"
    path.write_bytes(_wtmp(utmp_record))
    out = await run_action("user.last", {"file": str(path)})
    assert out.ok, out.message
    s = out.value["sessions"]
    assert [(x["user"], x["end"]) for x in s] == [
        ("carol", "still logged in"),
        ("dave", "crash"),
        ("bob", "down"),
        ("alice", "logged out"),
    ]
    alice = s[3]
    assert (
        alice["line"],
        alice["host"],
        alice["login_time"],
        alice["logout_time"],
        alice["duration_seconds"],
    ) == ("pts/0", "192.0.2.7", T0 + 100, T0 + 400, 300)
    assert (
        s[2]["logout_time"] == T0 + 1000
        and s[1]["logout_time"] == T0 + 2000
        and s[0]["logout"] is None
    )
    assert [(e["event"], e["timestamp"]) for e in out.value["system"]] == [
        ("reboot", T0 + 2000),
        ("reboot", T0 + 1100),
        ("shutdown", T0 + 1000),
        ("reboot", T0),
    ]
    assert out.value["system"][0]["kernel"] == "6.1.0-test"
    if shutil.which("last"):
        assert [x["user"] for x in s] == _last_users(str(path))

    out = await run_action("user.last", {"file": str(path), "user": "bob"})
    assert [x["user"] for x in out.value["sessions"]] == ["bob"]
    out = await run_action("user.last", {"file": str(path), "limit": 2})
    assert len(out.value["sessions"]) == 2


async def test_last_failed_logins(tmp_path, utmp_record):
    path = tmp_path / "btmp"
    path.write_bytes(
        utmp_record(
            LOGIN_PROCESS, user="admin", line="ssh:notty", host="203.0.113.5", pid=5, when=T0
        )
        + utmp_record(
            LOGIN_PROCESS, user="root", line="ssh:notty", host="203.0.113.5", pid=6, when=T0 + 5
        )
    )
    out = await run_action("user.last", {"file": str(path), "failed": True})
    assert out.ok, out.message
    assert [(f["user"], f["host"], f["timestamp"]) for f in out.value["failed"]] == [
        ("root", "203.0.113.5", T0 + 5),
        ("admin", "203.0.113.5", T0),
    ]
    if shutil.which("lastb"):
        assert [f["user"] for f in out.value["failed"]] == _last_users(str(path), failed=True)


def _has_wtmp() -> bool:
    import os

    return os.path.exists("/var/log/wtmp")


async def test_last_host_file_and_errors(tmp_path):
    out = await run_action("user.last", {})
    assert out.ok if _has_wtmp() else out.code == "A017"
    assert (await run_action("user.last", {"file": str(tmp_path / "none")})).code == "A017"
    assert (await run_action("user.last", {"file": "var/log/wtmp"})).code == "A002"
    assert (await run_action("user.last", {"limit": 0})).code == "A002"
    assert (await run_action("user.last", {"user": "a b"})).code == "A002"
