"""Trust at rest on a real Starling (`starling up` in a private STARLING_HOME, under
umask 000 so that nothing is made private by the umask's grace): every file holding a
secret or an identity is 0600 in 0700 directories, reads leave no audit rows, and each
kind of tampering with the live center's database (and its anchor file) is reported
by `starling audit verify`, through the API and offline."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def starling(home: Path, *args: str, timeout: float = 120, umask: int = -1) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, STARLING_HOME=str(home), COLUMNS="200", STARLING_CENTER_AUDIT_ANCHOR_INTERVAL="0.2")
    env.pop("STARLING_API", None)
    return subprocess.run([str(BIN / "starling"), *args], capture_output=True, text=True, env=env, timeout=timeout, umask=umask)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("trust") / "state"  # made by `starling up` itself
    # umask 000, inherited by every role `up` starts: a file made with the umask's mode is 0666 here.
    proc = starling(home, "up", "--agents", "1", "--port", "0", "--detach", "--no-demo", timeout=180, umask=0)
    if proc.returncode != 0:
        starling(home, "down")
        raise AssertionError(f"starling up failed:\n{proc.stdout}\n{proc.stderr}")
    try:
        yield home
    finally:
        starling(home, "down")


def _mode(p: Path) -> int:
    return p.stat().st_mode & 0o777


def verify(home: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = starling(home, "audit", "verify", *extra, "--json")
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(f"not JSON ({proc.returncode}): {proc.stdout}\n{proc.stderr}") from exc


def kinds(doc: dict[str, Any]) -> set[tuple[int, str]]:
    return {(p["seq"], p["kind"]) for p in doc["problems"]}


class Db:
    """Raw SQL on the live center's SQLite file, as someone with write access would."""

    def __init__(self, home: Path) -> None:
        self.path = home / "center" / "center.db"

    def __call__(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        con = sqlite3.connect(self.path, timeout=30)
        try:
            rows = con.execute(sql, params).fetchall()
            con.commit()
            return rows
        finally:
            con.close()

    def snapshot(self) -> list[tuple[Any, ...]]:
        return self("SELECT seq, time_us, actor, kind, subject, detail, prev_hash, hash, key_id FROM audit_log ORDER BY seq")

    def restore(self, rows: list[tuple[Any, ...]]) -> None:
        con = sqlite3.connect(self.path, timeout=30)
        try:
            con.execute("DELETE FROM audit_log")
            con.executemany("INSERT INTO audit_log (seq, time_us, actor, kind, subject, detail, prev_hash, hash, key_id) VALUES (?,?,?,?,?,?,?,?,?)", rows)
            con.commit()
        finally:
            con.close()


@pytest.fixture(scope="module")
def activity(home: Path) -> dict[str, Any]:
    """Writes and reads through the CLI: a job (polled by the CLI until done) and an account."""
    # The job's outcome does not matter here (a loaded box may time it out): its
    # submission and dispatch are the writes, the CLI's polling until it ends the reads.
    starling(home, "run", "--all", "--action", "sys.info", "--timeout", "15", "--json")
    acct = starling(home, "accounts", "create", "auditor", "--json")
    assert acct.returncode == 0, acct.stderr
    # Written on the center host without the center: MAC-ed with the same key ring.
    local = starling(home, "accounts", "create", "approver2", "--approver", "--local", "--config", str(home / "center.toml"), "--json")
    assert local.returncode == 0, local.stderr
    assert starling(home, "hosts", "--json").returncode == 0
    assert starling(home, "jobs", "--json").returncode == 0
    # Wait until the head is anchored (every 0.2 s here) so the tail is covered.
    db = Db(home)
    anchors = home / "center" / "audit-anchors.jsonl"
    end = time.monotonic() + 20
    while time.monotonic() < end:
        head = db("SELECT max(seq) FROM audit_log")[0][0]
        lines = anchors.read_text().splitlines() if anchors.exists() else []
        if lines and json.loads(lines[-1])["seq"] == head:
            return {"head": head}
        time.sleep(0.1)
    raise AssertionError("the audit head was not anchored")


# -- secrets at rest ---------------------------------------------------------------


#: Names that hold a secret or an identity wherever they appear under the state directory.
SECRET_NAMES = (
    "*.key", "*-ed25519.pem", "*.toml", "*.db", "*.db-wal", "*.db-shm", "*.db-journal",
    "secrets.json", "up.json", "enrollment.json", "generated-sn", "audit-anchors.jsonl",
)


def test_every_secret_file_is_0600_and_its_directories_0700(home: Path, activity: dict[str, Any]) -> None:
    center = home / "center"
    agent = home / "agents" / "a001"
    files = [
        home / "center.toml", home / "proxy-1.toml", home / "secrets.json", home / "up.json",
        home / "pki" / "ca.key", home / "pki" / "center.key", home / "pki" / "proxy.key",
        center / "center.db", center / "center.db-wal", center / "center.db-shm",
        center / "keys" / "center-ed25519.pem", center / "keys" / "accounts.key",
        center / "audit.key", center / "audit-anchors.jsonl",
        agent / "agent.toml", agent / "identity.toml", agent / "enrollment.json", agent / "agent-ed25519.pem",
        agent / "journal.db",
    ]
    # Pushed file content (may be secret) lives in the chunk stores of the center and the proxy.
    dirs = [home, home / "pki", center, center / "keys", center / "chunks", home / "agents", agent, home / "proxy-1-cache"]
    assert {str(f): oct(_mode(f)) for f in files if _mode(f) != 0o600} == {}
    assert {str(d): oct(_mode(d)) for d in dirs if _mode(d) != 0o700} == {}
    # And whatever else of those kinds is there (a new role's file, a second agent's).
    found = {p for name in SECRET_NAMES for p in home.rglob(name) if p.is_file()}
    assert set(files) <= found
    assert {str(f): oct(_mode(f)) for f in found if _mode(f) != 0o600} == {}
    assert {str(d): oct(_mode(d)) for d in {f.parent for f in found} if _mode(d) != 0o700} == {}
    assert list(home.rglob(".*.tmp")) == []  # no temporary left behind by a write


def test_logs_are_not_world_readable(home: Path, activity: dict[str, Any]) -> None:
    """Logs name hosts, commands and accounts: each role creates its log owner-write,
    group-read (transports LOG_MODE), whatever the umask (000 here)."""
    logs = [p for p in home.rglob("*.log") if p.is_file()]
    assert logs, "no role wrote a log file"
    assert {str(p): oct(_mode(p)) for p in logs if _mode(p) & 0o027} == {}


def test_no_file_holding_a_secret_is_readable_by_others(home: Path, activity: dict[str, Any]) -> None:
    """Walk the whole state dir for the actual secret values, wherever they ended up."""
    sec = json.loads((home / "secrets.json").read_text())
    needles = [sec["secret"].encode(), sec["enroll_token"].encode()]
    needles.append((home / "center" / "audit.key").read_text().split()[-1].encode())
    leaky = []
    for path in home.rglob("*"):
        if not path.is_file() or path.stat().st_size > 4 << 20:
            continue
        data = path.read_bytes()
        if (any(n in data for n in needles) or b"PRIVATE KEY" in data) and _mode(path) & 0o077:
            leaky.append(f"{path} {oct(_mode(path))}")
    assert leaky == []


# -- audit: what is recorded ---------------------------------------------------------


def test_reads_and_polling_leave_no_audit_rows_writes_do(home: Path, activity: dict[str, Any]) -> None:
    db = Db(home)
    rows = db("SELECT kind, subject FROM audit_log")
    api = [s for k, s in rows if k == "api"]
    assert api and all(not s.startswith(("GET ", "HEAD ")) for s in api), api
    assert any(s == "POST /v1/jobs" for s in api) and any(s == "POST /v1/accounts" for s in api)
    assert {"job.submit", "job.dispatch", "account.create"} <= {k for k, _ in rows}
    before = db("SELECT count(*) FROM audit_log")[0][0]
    from center import Client

    prof = json.loads((home / "up.json").read_text())
    client = Client(prof["api"], prof["key_id"], prof["secret"], prof["ca_file"], timeout=10)
    job = db("SELECT id FROM jobs LIMIT 1")[0][0]
    for _ in range(25):  # five seconds of the CLI's 5 Hz polling
        client.request("GET", f"/v1/jobs/{job}")
        client.request("GET", "/v1/hosts")
    time.sleep(0.5)  # past the trail's flush interval
    assert db("SELECT count(*) FROM audit_log")[0][0] == before


def test_intact_log_verifies_with_its_anchor(home: Path, activity: dict[str, Any]) -> None:
    rc, doc = verify(home)
    assert rc == 0 and doc["ok"], doc
    assert doc["anchor"]["seq"] == doc["head"]["seq"] and doc["anchors"] >= 1
    assert len(doc["keys"]) == 1
    human = starling(home, "audit", "verify")
    assert human.returncode == 0 and "audit log intact" in human.stdout


# -- audit: each kind of tampering, on the live database -----------------------------


def _tamper(home: Path, how: Any) -> tuple[int, dict[str, Any], dict[str, Any]]:
    db = Db(home)
    saved = db.snapshot()
    try:
        how(db, saved)
        rc, doc = verify(home)
        _, offline = verify(home, "-c", str(home / "center.toml"))
        human = starling(home, "audit", "verify")
    finally:
        db.restore(saved)
    assert human.returncode == 1 and "audit log tampered" in human.stderr
    for p in doc["problems"]:
        assert f"seq {p['seq']}: {p['kind']} — " in human.stderr
    assert verify(home)[1]["ok"]
    return rc, doc, offline


def test_edited_record(home: Path, activity: dict[str, Any]) -> None:
    rc, doc, offline = _tamper(home, lambda db, _rows: db("UPDATE audit_log SET actor = 'nobody' WHERE seq = 3"))
    assert rc == 1 and kinds(doc) == {(3, "edited")} == kinds(offline)


def test_deleted_record(home: Path, activity: dict[str, Any]) -> None:
    rc, doc, offline = _tamper(home, lambda db, _rows: db("DELETE FROM audit_log WHERE seq = 2"))
    assert rc == 1 and kinds(doc) == {(2, "deleted")} == kinds(offline)


def test_recomputed_chain_without_the_key(home: Path, activity: dict[str, Any]) -> None:
    """Rewrite record 2 and re-hash everything after it the documented way, but
    without the key (which the database does not hold)."""
    from center.security import AuditRecord, chain_hash

    def rewrite(db: Db, rows: list[tuple[Any, ...]]) -> None:
        prev = rows[0][7]
        for seq, time_us, actor, kind, subject, detail, _p, _h, key_id in rows[1:]:
            actor = "nobody" if seq == 2 else actor
            rec = AuditRecord(seq, time_us / 1e6, actor, kind, subject, detail, prev, "", key_id)
            h = chain_hash(prev, rec)
            db("UPDATE audit_log SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?", actor, prev, h, seq)
            prev = h

    rc, doc, offline = _tamper(home, rewrite)
    assert rc == 1 and (2, "recomputed") in kinds(doc) and (2, "recomputed") in kinds(offline)
    assert {k for _, k in kinds(doc)} == {"recomputed"}


def test_truncated_tail(home: Path, activity: dict[str, Any]) -> None:
    head = activity["head"]
    rc, doc, offline = _tamper(home, lambda db, _rows: db("DELETE FROM audit_log WHERE seq > ?", head - 2))
    assert rc == 1 and kinds(doc) == {(head - 1, "truncated")} == kinds(offline)
    log = (home / "logs" / "center.log").read_text()
    assert "was cut or rewritten" in log  # and the center did not anchor the cut head
    lines = (home / "center" / "audit-anchors.jsonl").read_text().splitlines()
    assert max(json.loads(line)["seq"] for line in lines) >= head


def test_edited_anchor_file(home: Path, activity: dict[str, Any]) -> None:
    path = home / "center" / "audit-anchors.jsonl"
    original = path.read_bytes()
    lines = original.decode().splitlines()
    doc = json.loads(lines[-1])
    doc["seq"] += 1000
    path.write_text("\n".join([*lines[:-1], json.dumps(doc)]) + "\n")
    try:
        rc, report = verify(home)
    finally:
        path.write_bytes(original)
    assert rc == 1 and {k for _, k in kinds(report)} == {"anchor"}
