"""`transport = "auto"`: QUIC, then TCP+TLS, then HTTP long-poll, remembered.

Blocked carriers are simulated the way a firewall looks to the agent: the proxy
advertises a QUIC (and TCP) address where nothing answers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from center._credentials import proxy_token
from transports import free_port

from .conftest import Fleet

pytestmark = pytest.mark.integration

AGENTS = 1


def _toml(path: Path, section: str, values: dict) -> Path:
    path.write_text(f"[{section}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()))
    return path


def _spawn(argv: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=log.open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def test_auto_falls_back_and_remembers(fleet: Fleet, tmp_path: Path) -> None:
    home = fleet.home
    sec = json.loads((home / "secrets.json").read_text())
    center_cfg = (home / "center.toml").read_text()
    link = next(line.split('"')[1] for line in center_cfg.splitlines() if line.startswith("proxy_listen"))
    pki = home / "pki"
    procs: list[subprocess.Popen] = []
    try:
        dead = [free_port(), free_port()]
        tcp_port, https_port = free_port(), free_port()
        edges = {
            # QUIC blocked: the agent must end up on TCP.
            "edge-tcp": ([f"tcp://127.0.0.1:{tcp_port}"], [f"quic://127.0.0.1:{dead[0]}", f"tcp://127.0.0.1:{tcp_port}"]),
            # QUIC and TCP blocked: the agent must end up on HTTP long-poll.
            "edge-http": (
                [f"https://127.0.0.1:{https_port}"],
                [f"quic://127.0.0.1:{dead[0]}", f"tcp://127.0.0.1:{dead[1]}", f"https://127.0.0.1:{https_port}"],
            ),
        }
        for idc, (listen, advertise) in edges.items():
            cfg = _toml(tmp_path / f"{idc}.toml", "proxy", {
                "proxy_id": f"p-{idc}", "idc": idc, "centers": [link], "proxy_token": proxy_token(sec["proxy_token"], f"p-{idc}"),
                "listen": listen, "advertise": advertise, "cert_file": str(pki / "proxy.pem"),
                "key_file": str(pki / "proxy.key"), "ca_file": str(pki / "ca.pem"), "log_file": str(tmp_path / f"{idc}.log"),
            })
            procs.append(_spawn([sys.executable, "-m", "center.cli", "proxy", "-c", str(cfg)], tmp_path / f"{idc}.out"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            linked = {p["id"] for p in fleet.json("hosts") and _proxies(fleet) if p["linked"] and p["urls"]}
            if {"p-edge-tcp", "p-edge-http"} <= linked:
                break
            time.sleep(0.3)
        agent_dirs = {}
        for idc in edges:
            adir = tmp_path / f"agent-{idc}"
            adir.mkdir()
            ident = adir / "identity.toml"
            ident.write_text(f'sn = "fallback-{idc}"\nhostname = "fallback-{idc}"\nidc = "{idc}"\n')
            cfg = _toml(adir / "agent.toml", "agent", {
                "center": [fleet.profile["api"]], "enroll_token": sec["enroll_token"], "ca_file": str(pki / "ca.pem"),
                "state_dir": str(adir), "identity_file": str(ident), "transport": "auto", "log_file": str(adir / "agent.log"),
            })
            procs.append(_spawn([sys.executable, "-m", "agent_core._daemon", "-c", str(cfg)], adir / "agent.out"))
            agent_dirs[idc] = adir
        want = {"fallback-edge-tcp": "tcp", "fallback-edge-http": "http"}
        deadline = time.monotonic() + 60
        seen: dict[str, str] = {}
        while time.monotonic() < deadline:
            hosts = {h["hostname"]: h for h in fleet.json("hosts")["hosts"]}
            seen = {n: hosts[n]["carrier"] for n in want if n in hosts and hosts[n]["online"]}
            if seen == want:
                break
            time.sleep(0.5)
        assert seen == want
        assert (agent_dirs["edge-tcp"] / "transport").read_text() == "tcp"
        assert (agent_dirs["edge-http"] / "transport").read_text() == "https"
        doc = fleet.json("run", "--host", "fallback-edge-tcp", "--host", "fallback-edge-http", "--", "echo over")
        assert sorted(h["stdout"] for h in doc["hosts"]) == ["over\n", "over\n"]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def _proxies(fleet: Fleet) -> list[dict]:
    from center import Client

    prof = fleet.profile
    c = Client(prof["api"], prof["key_id"], prof["secret"], prof["ca_file"])
    try:
        return c.proxies()
    finally:
        c.close()
