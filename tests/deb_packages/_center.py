"""The center the packaged agents connect to, and ``starling`` as an operator runs it: the
helpers of the tests that move a packaged agent through ``starling upgrade``
(test_self_upgrade.py, test_systemd_unit.py)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from ._debroot import BIN, wait_for


def env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARLING_")}
    return env | {"STARLING_HOME": str(home), "COLUMNS": "200"} | extra


def starling(home: Path, *args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "starling"), *args], capture_output=True, text=True, env=env(home, **extra), timeout=timeout)


def center_up(home: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """``starling up`` (no agents) in ``home``: its profile (``up.json``), and the
    environment of a second account, an approver, for the jobs held for approval."""
    up = starling(home, "up", "--agents", "0", "--port", "0", "--detach", "--no-demo", timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    profile = json.loads((home / "up.json").read_text())
    bob = json.loads(starling(home, "accounts", "create", "bob", "--approver", "--local", "--json").stdout)
    approver = {"STARLING_API": profile["api"], "STARLING_CA": profile["ca_file"], "STARLING_KEY_ID": bob["key_id"], "STARLING_SECRET": bob["secret"]}
    return profile, approver


def agent_config(home: Path, template: str, identity_file: str) -> str:
    """The packaged ``/etc/starling/agent.toml`` (``template``) configured as an operator
    would (docs/deploy.md, step 6) for the center of ``home``."""
    profile = json.loads((home / "up.json").read_text())
    token = json.loads((home / "secrets.json").read_text())["enroll_token"]
    return (
        template.replace('center = ["https://center.example.net:8470"]', f'center = ["{profile["api"]}"]')
        .replace('enroll_token = ""', f'enroll_token = "{token}"')
        .replace('identity_file = ""', f'identity_file = "{identity_file}"')
        + "backoff_max = 2.0\n"
        # The test box is shared and its CPU pressure can sit near 100 %: the throttle
        # would defer every task (A013), which is not what these tests are about.
        + "max_cpu_pressure = 0.0\nmax_load_per_cpu = 1000.0\n"
    )


def host(home: Path, hostname: str) -> dict[str, Any]:
    """The center's row of ``hostname`` (``starling hosts``), {} if it has none."""
    rows = json.loads(starling(home, "hosts", "--json").stdout)["hosts"]
    return next((h for h in rows if h["hostname"] == hostname), {})


def online_version(home: Path, hostname: str) -> str:
    """The version ``hostname`` registered with, "" while it is offline."""
    h = host(home, hostname)
    return str(h.get("version", "")) if h.get("online") else ""


def reachable(home: Path, hostname: str) -> bool:
    """A task really reaches the agent (the center may see an old connection close after
    the new one opened, and call the host offline for a moment)."""
    out = starling(home, "run", "--host", hostname, "--json", "--timeout", "10", "--", "true")
    return out.returncode == 0


def run_approving(args: list[str], env: dict[str, str], approver: dict[str, str], timeout: float = 240) -> tuple[int, str, str, list[str]]:
    """``starling ARGS`` (an upgrade) running while a second account (``approver``: its
    STARLING_* environment) approves each ``agent.upgrade`` job held for approval: the exit
    code, standard output and error, and the jobs approved (at least one)."""
    proc = subprocess.Popen([str(BIN / "starling"), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    approved: list[str] = []
    try:
        end = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < end:
            listed = subprocess.run([str(BIN / "starling"), "jobs", "--json"], capture_output=True, text=True, env=env, timeout=60)
            for j in json.loads(listed.stdout)["jobs"]:
                if j["action"] == "agent.upgrade" and j["state"] == "pending_approval" and j["job_id"] not in approved:
                    ok = subprocess.run([str(BIN / "starling"), "approve", j["job_id"], "--json"],
                                        capture_output=True, text=True, env=env | approver, timeout=60)
                    assert ok.returncode == 0, ok.stdout + ok.stderr
                    approved.append(j["job_id"])
            time.sleep(0.5)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert approved, "the upgrade job was never held for approval"
    return proc.returncode, out, err, approved


def upgrade(home: Path, approver: dict[str, str], hostname: str, version: str, *extra: str) -> tuple[int, dict[str, Any]]:
    """``starling upgrade VERSION --all`` as an operator runs it; the approver approves the
    held wave. Its exit code and JSON answer."""
    wait_for(lambda: reachable(home, hostname), 60, "a task through to the agent")
    rc, out, err, _ = run_approving(["upgrade", version, "--all", "--json", *extra], env(home), approver)
    return rc, json.loads(out) if out.strip() else {"stderr": err}


def job(home: Path, job_id: str) -> dict[str, Any]:
    from center import Client

    profile = json.loads((home / "up.json").read_text())
    return Client(profile["api"], profile["key_id"], profile["secret"], profile["ca_file"]).job(job_id)
