"""A whole Starling on loopback for chaos tests: center, proxies, real agents
and a simfleet as separate processes that a test can ``kill -9`` and restart.

Config files are the ones ``starling up`` writes (``center._up._write_toml``),
so the roles run exactly as they do for an operator.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from center._credentials import proxy_token
from center._pki import ensure_ca, issue_cert
from center._up import _tail, _write_toml
from center.cli._client import ApiError, Client
from transports import FINAL_STATES, free_port

PY = sys.executable
HEARTBEAT = 5.0


class Cluster:
    """Processes of one test cluster, each known by a name (``center``,
    ``proxy-1``, ``agent-1``, ``simfleet``) and killed only by its PID."""

    def __init__(
        self, root: Path, *, proxies: int = 1, heartbeat: float = HEARTBEAT, db: str = "", capacity: int = 0,
        proxy_workers: int = 1,
    ) -> None:
        self.root = root
        self.proxy_workers = proxy_workers
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        pki = root / "pki"
        self.ca, _ = ensure_ca(pki)
        issue_cert(pki, "center", ["127.0.0.1", "localhost"])
        self.pcert, self.pkey = issue_cert(pki, "proxy", ["127.0.0.1", "localhost"])
        self.enroll_token = "t" + secrets.token_urlsafe(18)
        self.proxy_token = secrets.token_urlsafe(18)
        self.key_id, self.secret = "admin-" + secrets.token_hex(4), secrets.token_urlsafe(24)
        self.api = f"https://127.0.0.1:{free_port()}"
        self.link = f"tcp://127.0.0.1:{free_port()}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.argv: dict[str, list[str]] = {}
        self.env: dict[str, dict[str, str]] = {}
        _write_toml(root / "center.toml", "center", {
            "api": self.api, "proxy_listen": self.link, "state_dir": str(root / "center"),
            "enroll_token": self.enroll_token, "proxy_token": self.proxy_token,
            "cert_file": str(pki / "center.pem"), "key_file": str(pki / "center.key"), "ca_file": str(self.ca),
            "admin_key_id": self.key_id, "admin_secret": self.secret, "heartbeat": heartbeat,
            "log_file": str(self.logs / "center.log"), **({"db": db} if db else {}),
        })
        self.proxy_ids = [f"proxy-{i}" for i in range(1, proxies + 1)]
        for pid in self.proxy_ids:
            _write_toml(root / f"{pid}.toml", "proxy", {
                "proxy_id": pid, "idc": "chaos", "centers": [self.link], "proxy_token": proxy_token(self.proxy_token, pid),
                "listen": [f"tcp://127.0.0.1:{free_port()}"], "cert_file": str(self.pcert),
                "key_file": str(self.pkey), "ca_file": str(self.ca), "heartbeat": heartbeat,
                "log_file": str(self.logs / f"{pid}.log"), **({"capacity": capacity} if capacity else {}),
                **({"workers": proxy_workers} if proxy_workers > 1 else {}),
            })
        self.client = Client(self.api, self.key_id, self.secret, str(self.ca), timeout=30)
        self.agent_names: list[str] = []

    # -- processes -----------------------------------------------------------------------

    def _start(self, name: str) -> None:
        env = dict(os.environ, **self.env.get(name, {}))
        env.pop("STARLING_API", None)
        out = self.logs / f"{name}.out"
        fh = open(out, "ab")  # noqa: SIM115 - handed to the child
        self.procs[name] = subprocess.Popen(
            self.argv[name], stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env, cwd=str(self.root),
        )
        fh.close()

    def start(self, name: str) -> None:
        """(Re)start a role by name with the argv it was first given."""
        self._start(name)

    def kill(self, name: str) -> None:
        """``kill -9`` the named role (its PID only) and reap it."""
        proc = self.procs[name]
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def stop_all(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is None:
                # A role may have started processes of its own (simfleet --procs): they are
                # ours too, and would be orphaned by a SIGKILL of their parent alone.
                try:
                    kids = psutil.Process(proc.pid).children(recursive=True)
                except psutil.Error:
                    kids = []
                os.kill(proc.pid, signal.SIGKILL)
                for kid in kids:
                    try:
                        kid.kill()
                    except psutil.Error:
                        pass
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    print(f"{name} (pid {proc.pid}) did not die")
        self.client.close()

    def start_center(self) -> None:
        self.argv["center"] = [PY, "-m", "center.cli", "center", "-c", str(self.root / "center.toml")]
        self._start("center")
        self.wait_until(lambda: self.client.request("GET", "/v1/health")["ok"], 30, "center up")

    def start_proxy(self, proxy_id: str) -> None:
        self.argv[proxy_id] = [PY, "-m", "center.cli", "proxy", "-c", str(self.root / f"{proxy_id}.toml")]
        self._start(proxy_id)
        self.wait_proxy_linked(proxy_id)

    def wait_proxy_linked(self, proxy_id: str, timeout: float = 30) -> None:
        """Wait until the proxy (every worker of it, each linked as ``<id>.w<i>``) is linked."""
        wanted = {proxy_id} if self.proxy_workers <= 1 else {f"{proxy_id}.w{i}" for i in range(self.proxy_workers)}

        def linked() -> bool:
            return wanted <= {p["id"] for p in self.client.proxies() if p["linked"] and p["urls"] and p["online"]}

        self.wait_until(linked, timeout, f"{proxy_id} linked")

    def start_agent(self, i: int, *, via_proxy: bool = False) -> str:
        """Start real agent ``i``; ``via_proxy``: it enrolls through the proxies (``enroll_proxies``)."""
        name = f"agent-{i}"
        adir = self.root / name
        adir.mkdir(exist_ok=True)
        (adir / "identity.toml").write_text(f'sn = "chaos-{i}"\nhostname = "chaos-{i}"\nidc = "chaos"\n')
        _write_toml(adir / "agent.toml", "agent", {
            "center": [self.api], "enroll_token": self.enroll_token, "ca_file": str(self.ca),
            "state_dir": str(adir), "identity_file": str(adir / "identity.toml"), "transport": "tcp",
            "log_file": str(adir / "agent.log"), "backoff_min": 0.5, "backoff_max": 5.0,
            **({"enroll_proxies": [self.proxy_url(p) for p in self.proxy_ids]} if via_proxy else {}),
        })
        self.argv[name] = [PY, "-m", "agent_core._daemon", "-c", str(adir / "agent.toml")]
        # The chaos job writes this id to a file when it starts: proof of
        # how many times a real agent executed it.
        self.env[name] = {"STARLING_CHAOS_ID": f"chaos-{i}"}
        self._start(name)
        self.agent_names.append(name)
        return name

    def start_simfleet(
        self, count: int, prefix: str = "sim", *, procs: int = 1, sources: list[str] | None = None, concurrency: int = 16,
        via_proxy: bool = False,
    ) -> None:
        """Start ``starling-simfleet``; ``via_proxy``: its identities enroll through
        the proxies (batched on their links), not over HTTPS."""
        proxies = [a for p in self.proxy_ids for a in ("--proxy", self.proxy_url(p))] if via_proxy else []
        self.argv["simfleet"] = [
            PY, "-m", "contrib.simfleet._cli", "--center", self.api, "--ca", str(self.ca),
            f"--token={self.enroll_token}", "--count", str(count), "--idc", "chaos",
            "--state-dir", str(self.root / "simfleet"), "--prefix", prefix, "--procs", str(procs),
            "--concurrency", str(concurrency), *[a for s in sources or [] for a in ("--source", s)],
            "--backoff-min", "0.5", "--backoff-max", "5", "--log-file", str(self.logs / "simfleet.log"), *proxies,
        ]
        self._start("simfleet")

    def proxy_url(self, proxy_id: str) -> str:
        """The agent URL a proxy listens on (from its config)."""
        import tomllib

        return str(tomllib.loads((self.root / f"{proxy_id}.toml").read_text())["proxy"]["listen"][0])

    # -- observation ---------------------------------------------------------------------

    def wait_until(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        end = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < end:
            for name, proc in self.procs.items():
                if proc.poll() is not None and proc.returncode not in (-9,):
                    raise AssertionError(f"{what}: {name} exited with {proc.returncode}:\n{_tail(self.logs / (name + '.out'))}")
            try:
                got = check()
                if got:
                    return got
            except (ApiError, OSError, ValueError, KeyError) as exc:
                last = exc
            time.sleep(0.3)
        raise AssertionError(f"{what}: not after {timeout:.0f}s ({last or 'condition false'})")

    def sim_status(self) -> dict[str, Any]:
        return json.loads((self.root / "simfleet" / "status.json").read_text())

    def online_hosts(self) -> int:
        return len(self.client.hosts(online="1"))

    def wait_all_online(self, total: int, timeout: float = 90) -> None:
        self.wait_until(lambda: self.online_hosts() >= total, timeout, f"{total} hosts online")

    def chaos_command(self) -> tuple[str, Path]:
        """The chaos job's command and the file real agents record executions in."""
        runs = self.root / f"runs-{uuid.uuid4().hex[:8]}"
        return f'echo "$STARLING_CHAOS_ID" >> {runs}; sleep 3; echo ok', runs

    def submit(self, cmd: str, timeout: float = 20) -> str:
        return str(self.client.submit("exec.run", {"cmd": cmd}, all=True, timeout=timeout)["job_id"])

    def wait_job(self, job_id: str, timeout: float) -> dict[str, Any]:
        self.wait_until(lambda: self.client.job(job_id, results=False)["complete"], timeout, f"job {job_id} complete")
        return self.client.job(job_id)

    def task_states(self, job_id: str) -> dict[str, str]:
        return {r["hostname"]: r["state"] for r in self.client.job(job_id)["results"]}


def _ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def audit(cluster: Cluster, job: dict[str, Any], runs: Path, expected_total: int) -> dict[str, Any]:
    """Check the delivery contract for one finished job and return its figures.

    Every task final, none lost, none executed twice (simfleet execution table,
    real agents' journals and run markers), and what the center stored is what
    the executing agent recorded (a result stored once, never overwritten).
    """
    rows = job["results"]
    by_id = {r["task_id"]: r for r in rows}
    problems: list[str] = []
    if len(rows) != expected_total or job["total"] != expected_total:
        problems.append(f"lost tasks: {len(rows)} rows, total {job['total']}, expected {expected_total}")
    not_final = [r["task_id"] for r in rows if r["state"] not in FINAL_STATES]
    if not_final:
        problems.append(f"{len(not_final)} tasks not final: {not_final[:5]}")
    # Simulated agents: the execution table (written before the work starts).
    with _ro(cluster.root / "simfleet" / "journal.db") as db:
        execs = dict(db.execute(
            "SELECT task_id, count(*) FROM executions WHERE task_id LIKE ? GROUP BY task_id", (job["id"] + "-%",)
        ).fetchall())
        journal = {t: (s, blob) for t, s, blob in db.execute(
            "SELECT task_id, state, result FROM tasks WHERE job_id=?", (job["id"],)
        ).fetchall()}
    twice = {t: n for t, n in execs.items() if n > 1}
    # Real agents: journal rows (one per task id) and the run markers.
    markers: dict[str, int] = {}
    if runs.exists():
        for line in runs.read_text().split():
            markers[line] = markers.get(line, 0) + 1
    twice.update({f"marker:{h}": n for h, n in markers.items() if n > 1})
    real: dict[str, tuple[str, bytes | None]] = {}
    for name in cluster.agent_names:
        path = cluster.root / name / "journal.db"
        if path.exists():
            with _ro(path) as db:
                for t, s, blob in db.execute("SELECT task_id, state, result FROM tasks WHERE job_id=?", (job["id"],)):
                    real[t] = (s, blob)
    if twice:
        problems.append(f"executed more than once: {dict(list(twice.items())[:5])}")
    from transports import decode

    disagree = []
    for task_id, (_state, blob) in {**journal, **real}.items():
        row = by_id.get(task_id)
        if row is None:
            problems.append(f"agent journal has {task_id}, the center has no such task")
            continue
        if blob is not None:
            res = decode(blob)
            if (res.state, res.code, res.stdout) != (row["state"], row["code"], row["stdout"]):  # type: ignore[attr-defined]
                disagree.append((task_id, (res.state, res.code), (row["state"], row["code"])))  # type: ignore[attr-defined]
    if disagree:
        problems.append(f"{len(disagree)} stored results differ from the agent's: {disagree[:5]}")
    for r in rows:
        if r["state"] == "succeeded" and r["hostname"].startswith("sim-") and execs.get(r["task_id"], 0) != 1:
            problems.append(f"{r['task_id']} succeeded with {execs.get(r['task_id'], 0)} executions")
    states: dict[str, int] = {}
    for r in rows:
        key = r["state"] + (f"/{r['code']}" if r["code"] else "")
        states[key] = states.get(key, 0) + 1
    return {
        "total": len(rows), "states": states, "sim_executions": sum(execs.values()),
        "executed_twice": len(twice), "real_markers": sum(markers.values()), "markers": markers, "problems": problems,
    }


def report(scenario: str, figures: dict[str, Any], **extra: Any) -> None:
    """Append one scenario's figures to ``$STARLING_CHAOS_REPORT`` (JSON lines)
    when set, for docs/reliability.md."""
    path = os.environ.get("STARLING_CHAOS_REPORT")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps({"scenario": scenario, **figures, **extra}) + "\n")
