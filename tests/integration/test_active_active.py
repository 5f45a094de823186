"""Two centers on one PostgreSQL or MariaDB database, active-active: a job submitted to one
center completes through the other after the first is killed with -9."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from center import Client
from center._credentials import proxy_token
from center._pki import ensure_ca, ensure_signing_key, issue_cert
from center._up import _write_toml
from transports import free_port

pytestmark = pytest.mark.integration

PG = os.environ.get("STARLING_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MY = os.environ.get("STARLING_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")
AGENTS = 3


@pytest.fixture(params=["postgresql", "mariadb"])
def db_url(request, private_database):
    """A private database on the shared server, dropped afterwards."""
    with private_database(PG if request.param == "postgresql" else MY, "starling_aa") as url:
        yield url


def _spawn(argv: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=log.open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def _wait(check, timeout: float, what: str):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # the center may still be starting
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"{what} not reached ({last})")


def test_job_survives_the_death_of_its_center(tmp_path: Path, db_url: str) -> None:
    pki = tmp_path / "pki"
    ca, _ = ensure_ca(pki)
    issue_cert(pki, "center", ["127.0.0.1", "localhost"])
    pcert, pkey = issue_cert(pki, "proxy", ["127.0.0.1", "localhost"])
    shared = tmp_path / "center-state"
    ensure_signing_key(shared / "keys" / "center-ed25519.pem")  # one task-signing key for the cluster
    tokens = {"enroll": secrets.token_urlsafe(12), "proxy": secrets.token_urlsafe(12), "key": "admin-aa", "secret": secrets.token_urlsafe(16)}
    centers = {}
    for name in ("a", "b"):
        api, link = f"https://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
        _write_toml(tmp_path / f"center-{name}.toml", "center", {
            "center_id": f"center-{name}", "api": api, "proxy_listen": link, "db": db_url, "state_dir": str(shared),
            "enroll_token": tokens["enroll"], "proxy_token": tokens["proxy"], "cert_file": str(pki / "center.pem"),
            "key_file": str(pki / "center.key"), "ca_file": str(ca), "admin_key_id": tokens["key"],
            "admin_secret": tokens["secret"], "heartbeat": 3.0, "log_file": str(tmp_path / f"center-{name}.log"),
        })
        centers[name] = {"api": api, "link": link}
    procs: list[subprocess.Popen] = []
    clients: dict[str, Client] = {}
    try:
        for name in ("a", "b"):
            p = _spawn([sys.executable, "-m", "center.cli", "center", "-c", str(tmp_path / f"center-{name}.toml")], tmp_path / f"center-{name}.out")
            procs.append(p)
            centers[name]["proc"] = p
            clients[name] = Client(centers[name]["api"], tokens["key"], tokens["secret"], str(ca), timeout=10)
            _wait(lambda c=clients[name]: c.request("GET", "/v1/health")["ok"], 30, f"center {name}")
        _write_toml(tmp_path / "proxy.toml", "proxy", {
            "proxy_id": "proxy-aa", "idc": "aa", "centers": [centers["a"]["link"], centers["b"]["link"]],
            "proxy_token": proxy_token(tokens["proxy"], "proxy-aa"), "listen": [f"tcp://127.0.0.1:{free_port()}"],
            "cert_file": str(pcert), "key_file": str(pkey), "ca_file": str(ca), "heartbeat": 3.0, "log_file": str(tmp_path / "proxy.log"),
        })
        procs.append(_spawn([sys.executable, "-m", "center.cli", "proxy", "-c", str(tmp_path / "proxy.toml")], tmp_path / "proxy.out"))
        _wait(lambda: all(any(p["linked"] and p["urls"] for p in clients[n].proxies()) for n in ("a", "b")), 30, "proxy linked to both")
        marks = tmp_path / "marks"
        marks.mkdir()
        for i in range(AGENTS):
            adir = tmp_path / f"agent-{i}"
            adir.mkdir()
            (adir / "identity.toml").write_text(f'sn = "aa-{i}"\nhostname = "aa-{i}"\nidc = "aa"\n')
            _write_toml(adir / "agent.toml", "agent", {
                "center": [centers["a"]["api"], centers["b"]["api"]], "enroll_token": tokens["enroll"], "ca_file": str(ca),
                "state_dir": str(adir), "identity_file": str(adir / "identity.toml"), "log_file": str(adir / "agent.log"),
            })
            procs.append(_spawn([sys.executable, "-m", "agent_core._daemon", "-c", str(adir / "agent.toml")], adir / "out"))
        _wait(lambda: len(clients["b"].hosts(online="1")) == AGENTS, 60, "agents online (seen by center b)")

        sub = clients["a"].submit("exec.run", {"cmd": f"echo ran >> {marks}/ran; sleep 2; echo done"}, all=True, timeout=30)
        # Every task in flight at the agents (received, or running: an agent's
        # throttle may hold a task for a moment on a busy machine).
        _wait(lambda: sum(clients["a"].job(sub["job_id"], results=False)["counts"].get(s, 0) for s in ("received", "running")) == AGENTS, 20, "tasks in flight")
        os.kill(centers["a"]["proc"].pid, signal.SIGKILL)

        view = _wait(lambda: (v := clients["b"].wait(sub["job_id"], 5))["complete"] and v, 60, "job complete through center b")
        assert view["counts"] == {"succeeded": AGENTS}
        job = clients["b"].job(sub["job_id"])
        assert [r["stdout"] for r in job["results"]] == ["done\n"] * AGENTS
        assert (marks / "ran").read_text() == "ran\n" * AGENTS  # each host ran it exactly once

        again = clients["b"].submit("exec.run", {"cmd": "echo still here"}, all=True)
        assert clients["b"].wait(again["job_id"], 30)["counts"] == {"succeeded": AGENTS}
    finally:
        for c in clients.values():
            c.close()
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
