"""Self-upgrade with real agents: an agent installed from a package repository (a local
apt repository in a clean Debian root) is moved 0.1.0 -> 0.1.1 -> 0.1.0 by
``starling upgrade``, which submits one ``agent.upgrade`` rollout job to the center
(approved by a second account); the center closes each host's task only when the host
re-registers on the new version (center/_upgrades.py). An upgrade to a version that
cannot be installed rolls back (A026) and stops the rollout.

The root has no systemd; a shell loop restarts the agent when it exits, as
``Restart=always`` would, and the upgrade helper signals the agent instead of calling
systemctl (plugins/agent/upgrade.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._debroot import BIN, PYV, DebRoot, wait_for, why_not
from .conftest import NEW, OLD

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.skipif(bool(why_not()), reason=why_not() or "ok"),
    pytest.mark.skipif(shutil.which("dpkg-scanpackages") is None, reason="dpkg-scanpackages is not installed (apt install dpkg-dev)"),
]
TAG = "py" + PYV.replace(".", "")
V_OLD, V_NEW = f"{OLD}-1.{TAG}", f"{NEW}-1.{TAG}"
SUPERVISOR = "while :; do /usr/bin/starling-agent --config /etc/starling/agent.toml; sleep 0.5; done"


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARLING_")}
    return env | {"STARLING_HOME": str(home), "COLUMNS": "200"} | extra


def _starling(home: Path, *args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "starling"), *args], capture_output=True, text=True, env=_env(home, **extra), timeout=timeout)


@pytest.fixture(scope="module")
def fleet(packages, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A center, an approver account, and one packaged agent in a Debian root whose only
    package repository holds both versions."""
    home = tmp_path_factory.mktemp("upgrade-center")
    up = _starling(home, "up", "--agents", "0", "--port", "0", "--detach", "--no-demo", timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    root = DebRoot(Path(tempfile.mkdtemp(prefix="starling-upgrade-")))
    agent = None
    try:
        profile = json.loads((home / "up.json").read_text())
        bob = json.loads(_starling(home, "accounts", "create", "bob", "--approver", "--local", "--json").stdout)
        approver = {"STARLING_API": profile["api"], "STARLING_CA": profile["ca_file"], "STARLING_KEY_ID": bob["key_id"], "STARLING_SECRET": bob["secret"]}
        # The repository: both versions, nothing else (the root is offline).
        repo = root.host("/srv/starling-repo")
        repo.mkdir(parents=True)
        for name in ("agent-old.deb", "agent-new.deb"):
            shutil.copy(packages[name], repo / packages[name].name)
        index = subprocess.run(["dpkg-scanpackages", "--multiversion", "."], cwd=repo, capture_output=True, check=True).stdout
        (repo / "Packages").write_bytes(index)
        for f in root.host("/etc/apt").rglob("*.list"):
            f.unlink()
        for f in root.host("/etc/apt/sources.list.d").glob("*.sources"):
            f.unlink()
        root.host("/etc/apt/sources.list").write_text("deb [trusted=yes] file:/srv/starling-repo ./\n")
        root.run("apt-get", "update", "-q")
        root.run("apt-get", "install", "-y", "-q", f"starling-agent={V_OLD}")
        # Configure as an operator would (docs/deploy.md, step 6).
        shutil.copy(profile["ca_file"], root.host("/etc/starling/ca.pem"))
        token = json.loads((home / "secrets.json").read_text())["enroll_token"]
        conf = root.host("/etc/starling/agent.toml")
        conf.write_text(
            conf.read_text()
            .replace('center = ["https://center.example.net:8470"]', f'center = ["{profile["api"]}"]')
            .replace('enroll_token = ""', f'enroll_token = "{token}"')
            .replace('identity_file = ""', 'identity_file = "/etc/starling/identity.toml"')
            + "backoff_max = 2.0\n"
            # The test box is shared and its CPU pressure can sit near 100 %: the throttle
            # would defer every task (A013), which is not what this test is about.
            + "max_cpu_pressure = 0.0\nmax_load_per_cpu = 1000.0\n"
        )
        root.host("/etc/starling/identity.toml").write_text('sn = "upgrade-1"\nhostname = "debroot-upgrade"\nidc = "local"\n')
        agent = root.start("/bin/sh", "-c", SUPERVISOR, log=root.path.parent / f"{root.path.name}-agent.log")
        doc = {"home": home, "root": root, "approver": approver, "supervisor": agent}
        wait_for(lambda: _version(doc) == V_OLD, 60, "the packaged agent online")
        yield doc
    finally:
        if agent is not None and agent.poll() is None:
            # The supervisor loop and the agent it runs: the process group we started.
            os.killpg(agent.pid, signal.SIGTERM)
            try:
                agent.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(agent.pid, signal.SIGKILL)
                agent.wait()
        _starling(home, "down")
        root.remove()


def _host(fleet: dict[str, Any]) -> dict[str, Any]:
    rows = json.loads(_starling(fleet["home"], "hosts", "--json").stdout)["hosts"]
    return next((h for h in rows if h["hostname"] == "debroot-upgrade"), {})


def _version(fleet: dict[str, Any]) -> str:
    h = _host(fleet)
    return str(h.get("version", "")) if h.get("online") else ""


def _upgrade(fleet: dict[str, Any], version: str, *extra: str) -> tuple[int, dict[str, Any]]:
    """``starling upgrade`` as an operator runs it; bob approves the held wave."""
    # The agent just restarted: wait until a task really reaches it (the center may see
    # the old connection close after the new one opened, and call the host offline).
    def reachable() -> bool:
        out = _starling(fleet["home"], "run", "--host", "debroot-upgrade", "--json", "--timeout", "10", "--", "true")
        return out.returncode == 0

    wait_for(reachable, 60, "a task through to the agent")
    proc = subprocess.Popen(
        [str(BIN / "starling"), "upgrade", version, "--all", "--json", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(fleet["home"]),
    )
    try:
        approved: set[str] = set()
        end = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < end:
            jobs = json.loads(_starling(fleet["home"], "jobs", "--json").stdout)["jobs"]
            for j in jobs:
                if j["action"] == "agent.upgrade" and j["state"] == "pending_approval" and j["job_id"] not in approved:
                    ok = _starling(fleet["home"], "approve", j["job_id"], "--json", **fleet["approver"])
                    assert ok.returncode == 0, ok.stdout + ok.stderr
                    approved.add(j["job_id"])
            time.sleep(0.5)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert approved, "the upgrade job was never held for approval"
    return proc.returncode, json.loads(out or "{}") if out.strip() else {"stderr": err}


def _job(fleet: dict[str, Any], job_id: str) -> dict[str, Any]:
    from center import Client

    profile = json.loads((fleet["home"] / "up.json").read_text())
    return Client(profile["api"], profile["key_id"], profile["secret"], profile["ca_file"]).job(job_id)


def _installed(fleet: dict[str, Any]) -> tuple[str, str]:
    root: DebRoot = fleet["root"]
    dpkg = root.run("dpkg-query", "-W", "-f=${Version}", "starling-agent").stdout
    return dpkg, root.host("/opt/starling/agent/VERSION").read_text().strip()


def _log(fleet: dict[str, Any]) -> str:
    """What to read when an upgrade test fails: the helper's log, the agent's journal
    (every task it received, with its state) and the tail of the agent's own log."""
    import sqlite3

    root: DebRoot = fleet["root"]
    path = root.host("/var/lib/starling/upgrade.log")
    out = ["upgrade.log:", path.read_text()[-3000:] if path.exists() else "(no upgrade.log)"]
    journal = root.host("/var/lib/starling/journal.db")
    if journal.exists():
        db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT task_id, action, state, received, acked FROM tasks ORDER BY received").fetchall()
        finally:
            db.close()
        out += ["journal:", *(repr(r) for r in rows)]
    agent_log = root.path.parent / f"{root.path.name}-agent.log"
    if agent_log.exists():
        out += ["agent log:", agent_log.read_text(errors="replace")[-3000:]]
    return "\n".join(out)


def test_forward(fleet):
    rc, doc = _upgrade(fleet, V_NEW)
    assert rc == 0, (json.dumps(doc.get("hosts")), _log(fleet))
    (row,) = doc["hosts"]
    assert (row["from"], row["to"], row["result"], row.get("now")) == (V_OLD, V_NEW, "upgraded", V_NEW), row
    # The center ran it: one job with a rollout, whose task records old -> new.
    job = _job(fleet, doc["job_id"])
    assert job["rollout"]["state"] == "done", job["rollout"]
    (task,) = job["results"]
    assert task["state"] == "succeeded" and task["data"]["from"] == V_OLD and task["data"]["to"] == V_NEW, task
    assert _installed(fleet) == (V_NEW, V_NEW)
    # It still runs commands, as the new version, with the same identity and key.
    assert _version(fleet) == V_NEW


def test_and_back(fleet):
    rc, doc = _upgrade(fleet, V_OLD)
    assert rc == 0, (json.dumps(doc.get("hosts")), _log(fleet))
    assert [(r["from"], r["to"], r["result"]) for r in doc["hosts"]] == [(V_NEW, V_OLD, "upgraded")]
    assert _installed(fleet) == (V_OLD, V_OLD)


def test_failed_upgrade_rolls_back_and_stops(fleet):
    rc, doc = _upgrade(fleet, f"9.9.9-1.{TAG}", "--wait", "10", "--max-failures", "0")
    assert rc == 1 and doc["failed"] == 1 and doc["upgraded"] == 0, (doc, _log(fleet))
    assert doc["hosts"][0]["result"] == "failed" and doc["hosts"][0]["code"] == "A026", doc["hosts"]
    assert doc["stopped"] and _job(fleet, doc["job_id"])["rollout"]["state"] == "stopped"
    # The agent rolled itself back: same package, running and connected again.
    assert _installed(fleet) == (V_OLD, V_OLD)
    wait_for(lambda: _version(fleet) == V_OLD, 60, "the agent back on the old version")
    # The helper writes its last line after it saw the old version connect (it looks once a
    # second): the center and the test can see the host back before that line is written.
    path = fleet["root"].host("/var/lib/starling/upgrade.log")
    wait_for(lambda: "rolled back" in path.read_text() or "rollback to" in path.read_text(), 30, "the helper's last line")
    log = path.read_text()
    assert "installing 9.9.9-1." in log and f"rolled back: running {V_OLD}" in log, (json.dumps(doc["hosts"]), _log(fleet))
