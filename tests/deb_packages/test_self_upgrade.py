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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._center import agent_config, center_up, job, online_version, starling, upgrade
from ._debroot import PYV, DebRoot, wait_for, why_not
from .conftest import NEW, OLD

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.skipif(bool(why_not()), reason=why_not() or "ok"),
    pytest.mark.skipif(shutil.which("dpkg-scanpackages") is None, reason="dpkg-scanpackages is not installed (apt install dpkg-dev)"),
]
TAG = "py" + PYV.replace(".", "")
V_OLD, V_NEW = f"{OLD}-1.{TAG}", f"{NEW}-1.{TAG}"
SUPERVISOR = "while :; do /usr/bin/starling-agent --config /etc/starling/agent.toml; sleep 0.5; done"


@pytest.fixture(scope="module")
def fleet(packages, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A center, an approver account, and one packaged agent in a Debian root whose only
    package repository holds both versions."""
    home = tmp_path_factory.mktemp("upgrade-center")
    profile, approver = center_up(home)
    root = DebRoot(Path(tempfile.mkdtemp(prefix="starling-upgrade-")))
    agent = None
    try:
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
        conf = root.host("/etc/starling/agent.toml")
        conf.write_text(agent_config(home, conf.read_text(), "/etc/starling/identity.toml"))
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
        starling(home, "down")
        root.remove()


def _version(fleet: dict[str, Any]) -> str:
    return online_version(fleet["home"], "debroot-upgrade")


def _upgrade(fleet: dict[str, Any], version: str, *extra: str) -> tuple[int, dict[str, Any]]:
    return upgrade(fleet["home"], fleet["approver"], "debroot-upgrade", version, *extra)


def _job(fleet: dict[str, Any], job_id: str) -> dict[str, Any]:
    return job(fleet["home"], job_id)


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
    # The helper logs its end on its next poll of running-version (a second apart), which
    # can come after the center saw the host back.
    log = fleet["root"].host("/var/lib/starling/upgrade.log")
    try:
        wait_for(lambda: f"rolled back: running {V_OLD}" in log.read_text(), 30, "the helper to log the rollback")
    except AssertionError as exc:
        raise AssertionError((json.dumps(doc["hosts"]), _log(fleet))) from exc
    assert "installing 9.9.9" in log.read_text(), _log(fleet)
