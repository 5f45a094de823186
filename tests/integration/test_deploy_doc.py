"""docs/deploy.md, followed step by step from a clean state: a fresh PostgreSQL
database, a fresh CA from `starling pki`, a center, a proxy for IDC dc1 with its
derived token, an agent configured with the four keys the page names, a command on it,
then a certificate rotation. Same entry points as the packages' units (`starling
center -c`, `starling proxy -c`, `starling-agent -c`), real processes on loopback.

Only the paths differ (a temporary directory instead of /etc/starling and /var/lib),
and the agent gets its own state dir and identity file because it is not the host's.
The last test checks that every command used here is the one the page shows.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from transports import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PAGE = (ROOT / "docs" / "deploy.md").read_text()
PG = os.environ.get("STARLING_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

pytestmark = pytest.mark.integration

#: Every command line this test runs (program + subcommand words), checked against the page.
USED: list[str] = []


def _toml(path: Path, section: str, values: dict[str, Any]) -> Path:
    path.write_text(f"[{section}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()))
    return path


class Deployment:
    def __init__(self, base: Path, db: str) -> None:
        self.base = base
        self.db = db
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.api_port, self.link_port, self.proxy_port = free_port(), free_port(), free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STARLING_")}
        self.env["COLUMNS"] = "200"
        # Only the page's settings, except the agent's load throttle: on a test machine busy with
        # other suites it would rightly defer the page's `uptime` (A013), which is not under test.
        self.env["STARLING_AGENT_MAX_CPU_PRESSURE"] = self.env["STARLING_AGENT_MAX_LOAD_PER_CPU"] = "0"

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        words = [a for a in args if not a.startswith("-")][:2]
        USED.append(" ".join(["starling", *(words[:1] if words[0] in ("hosts", "run") else words)]))
        proc = subprocess.run([str(BIN / "starling"), *args], capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"starling {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def start(self, name: str, argv: list[str]) -> None:
        USED.append(" ".join([Path(argv[0]).name, argv[1]]))
        log = open(self.base / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env, start_new_session=True)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def wait(self, what: str, pred: Any, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise AssertionError(f"{name} exited: {(self.base / f'{name}.log').read_text()[-3000:]}")
            try:
                if pred():
                    return
            except (AssertionError, ValueError, KeyError):
                pass
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}")

    def hosts(self) -> list[dict[str, Any]]:
        return list(json.loads(self.cli("hosts", "--json").stdout)["hosts"])


@pytest.fixture(scope="module")
def database(private_database) -> Iterator[str]:
    with private_database(PG, "starling_deploy") as url:
        yield url


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[Deployment]:
    d = Deployment(tmp_path_factory.mktemp("deploy"), database)
    try:
        yield d
    finally:
        for name in list(d.procs):
            d.stop(name)


def test_follow_the_page(deployment: Deployment) -> None:
    d = deployment
    pki = d.base / "starling-pki"
    etc = d.base / "etc"
    etc.mkdir()

    # 2. Certificates.
    d.cli("pki", "init", "--dir", str(pki))
    d.cli("pki", "issue", "center1", "--host", "127.0.0.1", "--dir", str(pki))
    d.cli("pki", "issue", "p1.dc1", "--host", "127.0.0.1", "--dir", str(pki))
    assert oct((pki / "center1.key").stat().st_mode)[-3:] == "600"

    # 3. The center, on PostgreSQL.
    admin_secret = uuid.uuid4().hex
    center_toml = _toml(etc / "center.toml", "center", {
        "center_id": "center-1",
        "api": f"https://127.0.0.1:{d.api_port}",
        "proxy_listen": f"tcp://127.0.0.1:{d.link_port}",
        "db": d.db,
        "state_dir": str(d.base / "var-lib-starling-center"),
        "cert_file": str(pki / "center1.pem"),
        "key_file": str(pki / "center1.key"),
        "ca_file": str(pki / "ca.pem"),
        "enroll_token": "enroll-" + uuid.uuid4().hex,
        "proxy_token": "master-" + uuid.uuid4().hex,
        "admin_key_id": "admin",
        "admin_secret": admin_secret,
    })
    d.start("center", [str(BIN / "starling"), "center", "--config", str(center_toml)])
    d.env.update(STARLING_API=f"https://127.0.0.1:{d.api_port}", STARLING_KEY_ID="admin", STARLING_SECRET=admin_secret, STARLING_CA=str(pki / "ca.pem"))
    d.wait("the center's API", lambda: d.hosts() == [])

    # 4. A proxy for dc1 with its derived token.
    token = d.cli("proxy-token", "p1.dc1", "--center-config", str(center_toml)).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    proxy_toml = _toml(etc / "proxy.toml", "proxy", {
        "proxy_id": "p1.dc1",
        "idc": "dc1",
        "centers": [f"tcp://127.0.0.1:{d.link_port}"],
        "proxy_token": token,
        "listen": [f"tcp://127.0.0.1:{d.proxy_port}"],
        "advertise": [f"tcp://127.0.0.1:{d.proxy_port}"],
        "cert_file": str(pki / "p1.dc1.pem"),
        "key_file": str(pki / "p1.dc1.key"),
        "ca_file": str(pki / "ca.pem"),
    })
    d.start("proxy", [str(BIN / "starling"), "proxy", "--config", str(proxy_toml)])

    # 6. An agent on a new host: the four keys of the page (+ its own state and identity here).
    ident = etc / "identity.toml"
    ident.write_text('sn = "deploy-doc-1"\nhostname = "new-host-1"\n')
    center_conf = (center_toml.read_text())
    enroll = re.search(r'enroll_token = "(.*)"', center_conf).group(1)  # type: ignore[union-attr]
    agent_toml = _toml(etc / "agent.toml", "agent", {
        "center": [f"https://127.0.0.1:{d.api_port}"],
        "enroll_token": enroll,
        "ca_file": str(pki / "ca.pem"),
        "idc": "dc1",
        "tags": ["web"],
        "state_dir": str(d.base / "var-lib-starling"),
        "identity_file": str(ident),
        "backoff_max": 2.0,  # test only: reconnect within seconds after the proxy restart
    })
    seen = subprocess.run([str(BIN / "starling-agent"), "--config", str(agent_toml), "identity"], capture_output=True, text=True, check=True, timeout=60)
    USED.append("starling-agent identity")
    assert json.loads(seen.stdout)["hostname"] == "new-host-1"
    d.start("agent", [str(BIN / "starling-agent"), "--config", str(agent_toml)])
    d.wait("the agent online in dc1", lambda: any(h["hostname"] == "new-host-1" and h["online"] and h["idc"] == "dc1" for h in d.hosts()))
    ran = json.loads(d.cli("run", "--host", "new-host-1", "--json", "--", "uptime").stdout)
    assert ran["counts"] == {"succeeded": 1} and "load average" in ran["hosts"][0]["stdout"]

    # 7. Checking the deployment.
    assert json.loads(d.cli("hosts", "--offline", "--json").stdout)["hosts"] == []
    assert json.loads(d.cli("audit", "verify", "--json").stdout)["ok"] is True

    # 2. Rotation: a new key and certificate for the proxy, restart it; the agent reconnects.
    old = (pki / "p1.dc1.pem").read_bytes()
    d.cli("pki", "issue", "p1.dc1", "--host", "127.0.0.1", "--dir", str(pki), "--renew")
    assert (pki / "p1.dc1.pem").read_bytes() != old
    d.stop("proxy")
    d.start("proxy", [str(BIN / "starling"), "proxy", "--config", str(proxy_toml)])
    # Only the new proxy process (which loaded the new certificate) can answer now.

    def ran_again() -> bool:
        doc = json.loads(d.cli("run", "--host", "new-host-1", "--json", "--timeout", "5", "--", "uptime", check=False).stdout)
        return bool(doc["counts"] == {"succeeded": 1})

    d.wait("a command through the restarted proxy", ran_again, timeout=90)


def test_the_page_shows_every_command_used() -> None:
    assert USED, "runs after test_follow_the_page"
    for cmd in sorted(set(USED)):
        assert cmd in PAGE, f"docs/deploy.md does not show `{cmd}`"
    # And the config keys the test wrote are the page's keys.
    for key in ("db", "cert_file", "enroll_token", "proxy_token", "admin_key_id", "idc", "centers", "advertise", "ca_file", "tags"):
        assert re.search(rf"^{key} = ", PAGE, re.M), key
