"""Operations endpoints on a real system: the center on its own PostgreSQL
database, one proxy with its HTTP listener, two real agents (processes on
loopback). Metrics change with real activity; readiness fails when the
database becomes unreachable, when the proxy dies, and (at the proxy) when
the center dies, and recovers when each comes back."""

from __future__ import annotations

import json
import os
import secrets
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from center import Client
from center._credentials import proxy_token
from center._pki import ensure_ca, issue_cert
from center._up import _write_toml
from center.cli._client import ApiError
from transports import free_port

pytestmark = pytest.mark.integration

PG = os.environ.get("STARLING_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
AGENTS = 2

# A rule that blocks a harmless marker: interception is exercised without any
# dangerous command anywhere near a shell.
MARKER_RULE = """
[[rule]]
id = "test.forbidden-marker"
action = "block"
message = "the test's forbidden marker"
programs = ["echo"]
args_any = ["FORBIDDEN-MARKER"]
"""


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def _wait(check: Any, timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            got = check()
            if got:
                return got
        except Exception as exc:  # a role may still be starting
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"{what} not reached ({last})")


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def pg_db(private_database) -> Iterator[tuple[str, str]]:
    with private_database(PG, "starling_ops") as url:
        yield sa.engine.make_url(url).database, url


def _set_db_reachable(name: str, reachable: bool) -> None:
    """Make the database refuse (or accept) connections and cut the open ones:
    to the center, its database is gone."""
    admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {'true' if reachable else 'false'}"))
        if not reachable:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
    admin.dispose()


def test_metrics_and_readiness_follow_real_activity_and_failures(tmp_path: Path, pg_db: tuple[str, str]) -> None:
    db_name, db_url = pg_db
    pki = tmp_path / "pki"
    ca, _ = ensure_ca(pki)
    issue_cert(pki, "center", ["127.0.0.1", "localhost"])
    pcert, pkey = issue_cert(pki, "proxy", ["127.0.0.1", "localhost"])
    (tmp_path / "marker.toml").write_text(MARKER_RULE)
    tok = {"enroll": secrets.token_urlsafe(12), "proxy": secrets.token_urlsafe(12), "key": "admin-ops", "secret": secrets.token_urlsafe(16)}
    api, link = f"https://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    _write_toml(tmp_path / "center.toml", "center", {
        "api": api, "proxy_listen": link, "db": db_url, "state_dir": str(tmp_path / "center"),
        "enroll_token": tok["enroll"], "proxy_token": tok["proxy"], "cert_file": str(pki / "center.pem"),
        "key_file": str(pki / "center.key"), "ca_file": str(ca), "admin_key_id": tok["key"], "admin_secret": tok["secret"],
        "heartbeat": 3.0, "log_file": str(tmp_path / "center.log"), "risk_rules": [str(tmp_path / "marker.toml")],
    })
    proxy_http = f"127.0.0.1:{free_port()}"
    _write_toml(tmp_path / "proxy.toml", "proxy", {
        "proxy_id": "proxy-ops", "idc": "ops", "centers": [link], "proxy_token": proxy_token(tok["proxy"], "proxy-ops"),
        "listen": [f"tcp://127.0.0.1:{free_port()}"], "cert_file": str(pcert), "key_file": str(pkey), "ca_file": str(ca),
        "heartbeat": 3.0, "log_file": str(tmp_path / "proxy.log"), "http_listen": proxy_http,
    })
    center_argv = [sys.executable, "-m", "center.cli", "center", "-c", str(tmp_path / "center.toml")]
    proxy_argv = [sys.executable, "-m", "center.cli", "proxy", "-c", str(tmp_path / "proxy.toml")]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    client = Client(api, tok["key"], tok["secret"], str(ca), timeout=15)
    web = httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), timeout=10)
    try:
        procs["center"] = _spawn(center_argv, tmp_path / "center.out")
        _wait(lambda: client.request("GET", "/v1/health")["ok"], 30, "center live")
        # Live but not ready: no proxy is linked yet.
        r = web.get(f"{api}/v1/ready")
        assert r.status_code == 503 and r.json()["error"]["code"] == "C015"
        procs["proxy"] = _spawn(proxy_argv, tmp_path / "proxy.out")
        _wait(lambda: web.get(f"{api}/v1/ready").status_code == 200, 30, "center ready")
        _wait(lambda: web.get(f"http://{proxy_http}/v1/ready").status_code == 200, 30, "proxy ready")
        for i in range(AGENTS):
            adir = tmp_path / f"agent-{i}"
            adir.mkdir()
            (adir / "identity.toml").write_text(f'sn = "ops-{i}"\nhostname = "ops-{i}"\nidc = "ops"\n')
            _write_toml(adir / "agent.toml", "agent", {
                "center": [api], "enroll_token": tok["enroll"], "ca_file": str(ca), "state_dir": str(adir),
                "identity_file": str(adir / "identity.toml"), "log_file": str(adir / "agent.log"),
            })
            procs[f"agent-{i}"] = _spawn([sys.executable, "-m", "agent_core._daemon", "-c", str(adir / "agent.toml")], adir / "out")
        _wait(lambda: len(client.hosts(online="1")) == AGENTS, 60, "agents online")

        # -- metrics change with real activity -----------------------------------------
        def center_metrics() -> dict[Any, float]:
            r = web.get(f"{api}/metrics")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
            return _samples(r.text)

        def proxy_metrics() -> dict[Any, float]:
            return _samples(web.get(f"http://{proxy_http}/metrics").text)

        _wait(lambda: _value(center_metrics(), "starling_center_proxy_agents", proxy="proxy-ops", idc="ops") == AGENTS, 20, "load report")
        before, pbefore = center_metrics(), proxy_metrics()
        job = client.submit("exec.run", {"cmd": "echo metrics"}, all=True, timeout=20)
        assert client.wait(job["job_id"], 30)["counts"] == {"succeeded": AGENTS}
        with pytest.raises(ApiError) as refused:
            client.submit("exec.run", {"cmd": "echo FORBIDDEN-MARKER"}, all=True)
        assert refused.value.code.value == "C010"
        with pytest.raises(ApiError) as unknown:
            client.submit("exec.run", {"cmd": "echo x"}, hosts=["no-such-host"])
        assert unknown.value.code.value == "C002"
        after, pafter = center_metrics(), proxy_metrics()

        def delta(name: str, **labels: str) -> float:
            return _value(after, name, **labels) - _value(before, name, **labels)

        assert delta("starling_center_jobs_submitted_total", action="exec.run") == 1
        assert delta("starling_center_task_results_total", state="succeeded") == AGENTS
        assert delta("starling_center_tasks_dispatched_total", proxy="proxy-ops") == AGENTS
        assert delta("starling_center_dispatch_seconds_count") == 1
        assert delta("starling_center_result_seconds_count") == AGENTS
        assert delta("starling_center_db_batch_size_count", op="create_job") == 1
        assert delta("starling_center_db_batch_size_sum", op="create_job") == AGENTS
        assert delta("starling_center_db_seconds_count", op="store_progress") >= 1
        assert delta("starling_center_interceptions_total", verdict="allow") == 1
        assert delta("starling_center_interceptions_total", verdict="block") == 1
        assert delta("starling_center_errors_total", code="C010", where="api") == 1
        assert delta("starling_center_errors_total", code="C002", where="api") == 1
        # The job turns "done" just after its last result is stored (the wait above sees the
        # counts first): read it until it shows, not from the one scrape.
        _wait(lambda: _value(center_metrics(), "starling_center_jobs", state="done") >= 1, 20, "the job done in the metrics")
        assert _value(after, "starling_center_db_up") == 1
        assert _value(after, "process_resident_memory_bytes") > 10 * 2**20
        assert _value(pafter, "starling_proxy_agents", proxy="proxy-ops", idc="ops") == AGENTS
        assert _value(pafter, "starling_proxy_center_links") == 1
        d = _value(pafter, "starling_proxy_tasks_total", outcome="delivered") - _value(pbefore, "starling_proxy_tasks_total", outcome="delivered")
        assert d == AGENTS
        assert _value(pafter, "starling_proxy_dispatch_seconds_count") - _value(pbefore, "starling_proxy_dispatch_seconds_count") == 1
        assert _value(pafter, "process_cpu_seconds_total") > 0
        # Quiet agents hold no task of the proxy: their connections wait in its parking lot
        # (a heartbeat wakes one for a moment), and they ran the job above from there.
        _wait(lambda: _value(proxy_metrics(), "starling_proxy_parked_connections") == AGENTS, 20, "every quiet agent parked")

        # -- one structured lifecycle line per task at the agent and at the proxy ---------
        def lines(path: Path) -> list[dict[str, Any]]:
            return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

        at_proxy = [d for d in lines(tmp_path / "proxy.log") if d.get("job_id") == job["job_id"]]
        assert len(at_proxy) == AGENTS
        assert {d["proxy_id"] for d in at_proxy} == {"proxy-ops"} and {d["state"] for d in at_proxy} == {"succeeded"}
        assert len({d["task_id"] for d in at_proxy}) == AGENTS and all(d["agent_id"] for d in at_proxy)
        for i in range(AGENTS):
            mine = [d for d in lines(tmp_path / f"agent-{i}" / "agent.log") if d.get("job_id") == job["job_id"] and "state" in d]
            assert len(mine) == 1 and mine[0]["role"] == "agent" and mine[0]["action"] == "exec.run"
            assert mine[0]["agent_id"] in {d["agent_id"] for d in at_proxy} and mine[0]["state"] == "succeeded"

        # -- readiness follows each dependency ------------------------------------------
        _set_db_reachable(db_name, False)
        r = _wait(lambda: (r := web.get(f"{api}/v1/ready")).status_code == 503 and r, 20, "center not ready without its database")
        body = r.json()["error"]
        assert body["code"] == "C016" and body["checks"]["database"]["ok"] is False and body["checks"]["proxies"]["ok"] is True
        assert web.get(f"{api}/v1/health").status_code == 200  # still live
        assert _value(center_metrics(), "starling_center_db_up") == 0
        _set_db_reachable(db_name, True)
        _wait(lambda: web.get(f"{api}/v1/ready").status_code == 200, 20, "center ready with its database back")

        os.kill(procs["proxy"].pid, signal.SIGKILL)
        procs["proxy"].wait(10)
        r = _wait(lambda: (r := web.get(f"{api}/v1/ready")).status_code == 503 and r, 20, "center not ready without a proxy")
        assert r.json()["error"]["code"] == "C015"
        procs["proxy"] = _spawn(proxy_argv, tmp_path / "proxy.out")
        _wait(lambda: web.get(f"{api}/v1/ready").status_code == 200, 30, "center ready with the proxy back")

        os.kill(procs["center"].pid, signal.SIGKILL)
        procs["center"].wait(10)
        r = _wait(lambda: (r := web.get(f"http://{proxy_http}/v1/ready")).status_code == 503 and r, 20, "proxy not ready without a center")
        assert r.json()["error"]["code"] == "P007"
        assert web.get(f"http://{proxy_http}/v1/health").json()["ok"] is True
        assert _value(proxy_metrics(), "starling_proxy_errors_total", code="P007") >= 1
        procs["center"] = _spawn(center_argv, tmp_path / "center.out")
        _wait(lambda: web.get(f"http://{proxy_http}/v1/ready").status_code == 200, 30, "proxy ready with the center back")
    finally:
        client.close()
        web.close()
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
