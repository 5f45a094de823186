from __future__ import annotations

import os
import shutil
import subprocess
import time

from agent_core.testing import run_action

USER_PROCESS, BOOT_TIME, RUN_LVL = 7, 2, 1


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _who_users(path: str) -> list[str]:
    res = subprocess.run(["who", path], capture_output=True, text=True)
    return [ln.split()[0] for ln in res.stdout.splitlines() if ln.strip()]


async def test_who_sessions_liveness(tmp_path, utmp_record):
    now = int(time.time())
    path = tmp_path / "utmp"
    path.write_bytes(
        utmp_record(BOOT_TIME, user="reboot", line="~", when=now - 3600)
        + utmp_record(RUN_LVL, user="runlevel", line="~", pid=ord("5"), when=now - 3590)
        + utmp_record(
            USER_PROCESS,
            user="alice",
            line="pts/0",
            host="192.0.2.7",
            pid=os.getpid(),
            when=now - 60,
        )
        + utmp_record(
            USER_PROCESS, user="bob", line="pts/1", host="192.0.2.8", pid=_dead_pid(), when=now - 30
        )
    )
    out = await run_action("user.who", {"file": str(path)})
    assert out.ok, out.message
    v = out.value
    assert [(s["user"], s["alive"]) for s in v["sessions"]] == [("alice", True), ("bob", False)]
    assert v["sessions"][0]["host"] == "192.0.2.7" and v["sessions"][0]["login_time"] == now - 60
    assert v["users"] == ["alice"] and v["runlevel"] == "5" and v["boot_time"]
    if shutil.which("who"):
        assert [s["user"] for s in v["sessions"]] == _who_users(str(path))
    out = await run_action("user.who", {"file": str(path), "include_stale": False})
    assert [s["user"] for s in out.value["sessions"]] == ["alice"]
    out = await run_action("user.who", {"file": str(path), "user": "bob"})
    assert [s["user"] for s in out.value["sessions"]] == ["bob"]


async def test_who_host_and_errors(tmp_path):
    out = await run_action("user.who", {})
    assert out.ok, out.message
    assert all(s["user"] for s in out.value["sessions"])
    assert (await run_action("user.who", {"file": str(tmp_path / "none")})).code == "A017"
    assert (await run_action("user.who", {"file": "run/utmp"})).code == "A002"
