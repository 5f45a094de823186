"""Supervision of a foreground ``starling up``: a crashed role comes back,
``starling restart`` works, ``./dev up --state-dir`` leaves other instances
alone, and SIGTERM stops every process that was started (real processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import BIN, ROOT, starling

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _profile(home: Path) -> dict[str, Any]:
    return json.loads((home / "up.json").read_text())


def _wait(what: str, check: Any, timeout: float = 60) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            got = check()
        except (OSError, ValueError, KeyError):
            got = None
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _role_pid(home: Path, name: str) -> int:
    return next(r["pid"] for r in _profile(home)["roles"] if r["name"] == name)


def _online(home: Path) -> int:
    proc = starling(home, "hosts", "--json")
    return sum(1 for h in json.loads(proc.stdout)["hosts"] if h["online"])


def test_foreground_up_restarts_crashes_and_stops_everything_on_sigterm(tmp_path: Path) -> None:
    home = tmp_path / "a"
    env = dict(os.environ, STARLING_HOME=str(home))
    env.pop("STARLING_API", None)
    log = (tmp_path / "up.out").open("wb")
    up = subprocess.Popen(
        [str(BIN / "starling"), "up", "--agents", "2", "--port", "0", "--no-demo"],
        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    started: set[int] = set()
    try:
        def supervising() -> bool:
            if up.poll() is not None:  # fail now, with the reason, not after the wait
                raise AssertionError(f"starling up exited with {up.returncode}:\n{(tmp_path / 'up.out').read_text()[-3000:]}")
            return bool(_profile(home).get("supervisor") == up.pid)

        _wait("the supervisor", supervising, 120)
        started |= set(_profile(home)["pids"])
        assert len(started) == 4  # center, proxy, two agents

        # A role killed -9 is restarted by the supervisor, and the agents come back to it.
        proxy = _role_pid(home, "proxy-1")
        os.kill(proxy, signal.SIGKILL)
        new_proxy = _wait("a new proxy", lambda: (p := _role_pid(home, "proxy-1")) != proxy and _alive(p) and p)
        started.add(new_proxy)
        _wait("both agents online again", lambda: _online(home) == 2, 60)

        # `starling restart` asks the supervisor and reports the new PID.
        out = json.loads(starling(home, "restart", "center", "--json", check=True).stdout)
        assert out["by"] == "supervisor" and out["pid"] != out["old_pid"] and _alive(out["pid"])
        started.add(out["pid"])
        assert not _alive(out["old_pid"])
        _wait("agents online through the restarted center", lambda: _online(home) == 2, 60)

        # `./dev up --state-dir B` stops only what runs in B, not this instance
        # in the default directory (STARLING_HOME).
        other = tmp_path / "b"
        dev = subprocess.run(
            [str(ROOT / "dev"), "up", "--state-dir", str(other), "--agents", "1", "--port", "0", "--no-demo"],
            env=env, capture_output=True, text=True, timeout=180,
        )
        try:
            assert dev.returncode == 0, dev.stderr
            assert all(_alive(p) for p in _profile(home)["pids"])
        finally:
            starling(other, "down", "--state-dir", str(other))
        assert all(_alive(p) for p in _profile(home)["pids"])

        started |= set(_profile(home)["pids"])
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=60) == 0
        gone = _wait("every started process to exit", lambda: not any(_alive(p) for p in started), 30)
        assert gone
        assert not (home / "up.json").exists()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        starling(home, "down")
        log.close()
