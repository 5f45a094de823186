"""End to end: real center, proxy and agent processes over TCP+TLS on loopback."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

pytestmark = pytest.mark.integration

AGENTS = 6


def test_run_on_every_agent(fleet):
    doc = fleet.json("run", "--all", "--", "echo hi")
    assert doc["total"] == AGENTS
    assert [h["stdout"] for h in doc["hosts"]] == ["hi\n"] * AGENTS
    assert all(h["state"] == "succeeded" and h["exit_code"] == 0 and h["code"] == "" for h in doc["hosts"])
    assert len({h["host_id"] for h in doc["hosts"]}) == AGENTS


def test_human_summary_groups_identical_output(fleet):
    proc = fleet.cli("run", "--all", "--", "echo same; echo $((1+1))")
    assert proc.returncode == 0, proc.stderr
    assert f"{AGENTS} hosts succeeded" in proc.stdout
    assert proc.stdout.count("same") == 1


def test_failures_carry_codes(fleet):
    doc = fleet.json("run", "--all", "--", "echo out; echo err >&2; exit 4")
    for h in doc["hosts"]:
        assert (h["state"], h["code"], h["exit_code"]) == ("failed", "A008", 4)
        assert h["stdout"] == "out\n" and h["stderr"] == "err\n"
    # Params and actions are checked against what the hosts declare, once, at submit.
    doc = fleet.json("run", "--all", "--action", "exec.run", "--params", '{"cmd": 7}')
    assert doc["error"]["code"] == "C024" and "cmd" in doc["error"]["message"]
    doc = fleet.json("run", "--all", "--action", "no.such.action")
    assert doc["error"]["code"] == "C023"


def test_timeout_is_reported(fleet):
    doc = fleet.json("run", "--all", "--timeout", "1", "--", "sleep 30")
    assert {(h["state"], h["code"]) for h in doc["hosts"]} == {("timed_out", "A005")}


def test_bad_requests_get_codes(fleet):
    doc = fleet.json("run", "--host", "no-such-host", "--", "true")
    assert doc["error"]["code"] == "C002"
    doc = fleet.json("job", "jnope")
    assert doc["error"]["code"] == "C004"
    doc = fleet.json("run", "--tag", "no-such-tag", "--", "true")
    assert doc["error"]["code"] == "C003"


def test_plugin_action_and_targets(fleet):
    doc = fleet.json("run", "--tag", "even", "--action", "sys.info")
    assert doc["total"] == AGENTS // 2
    assert all(h["data"]["cpus"] == os.cpu_count() for h in doc["hosts"])


def test_progress_stream_and_wait(fleet):
    """The API's server-sent events report progress and end with `done`."""
    import httpx

    from center import Client
    from center.security import StarlingAuth
    from transports import client_context

    prof = fleet.profile
    c = Client(prof["api"], prof["key_id"], prof["secret"], prof["ca_file"])
    sub = c.submit("exec.run", {"cmd": "sleep 1; echo streamed"}, all=True)
    events = []
    auth = StarlingAuth(prof["key_id"], prof["secret"].encode())
    with httpx.Client(base_url=prof["api"], verify=client_context(prof["ca_file"]), auth=auth, timeout=30) as http:
        with http.stream("GET", f"/v1/jobs/{sub['job_id']}/events") as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            for line in resp.iter_lines():
                if line.startswith("event: "):
                    events.append(line[7:])
    assert events[0] == "progress" and events[-1] == "done" and events.count("progress") >= 2
    view = c.wait(sub["job_id"], 30)
    assert view["complete"] and view["counts"] == {"succeeded": AGENTS}
    c.close()


def test_progress_stream_sends_each_result_once(fleet):
    """With ``results=true`` the event stream carries every host's result exactly
    once as it becomes final, outputs clipped with a digest of the whole (the
    console's 10,000-host page renders these as they arrive)."""
    import httpx

    from center import Client
    from center.security import StarlingAuth
    from transports import client_context

    prof = fleet.profile
    c = Client(prof["api"], prof["key_id"], prof["secret"], prof["ca_file"])
    # 9000 characters: longer than the live clip (8192), so every row says it was clipped.
    sub = c.submit("exec.run", {"cmd": "sleep 0.5; head -c 9000 /dev/zero | tr '\\0' x"}, all=True)
    names: list[str] = []
    kinds: list[str] = []
    auth = StarlingAuth(prof["key_id"], prof["secret"].encode())
    with httpx.Client(base_url=prof["api"], verify=client_context(prof["ca_file"]), auth=auth, timeout=30) as http:
        with http.stream("GET", f"/v1/jobs/{sub['job_id']}/events", params={"results": "true"}) as resp:
            kind = ""
            for line in resp.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                    kinds.append(kind)
                elif line.startswith("data: ") and kind == "results":
                    for r in json.loads(line[6:])["results"]:
                        assert r["state"] == "succeeded" and r["clipped"] and len(r["stdout"]) == 8192
                        assert len(r["digest"]) == 32
                        names.append(r["hostname"])
    assert kinds[-1] == "done" and "results" in kinds
    assert sorted(names) == sorted(h["hostname"] for h in c.job(sub["job_id"])["results"]) and len(names) == AGENTS
    c.close()


def test_hosts_table_fits_a_narrow_terminal(fleet):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, STARLING_HOME=str(fleet.home), COLUMNS="80")
    out = subprocess.run([str(Path(sys.executable).parent / "starling"), "hosts"], capture_output=True, text=True, env=env, timeout=60).stdout
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "online" in out


def test_resident_exporter_on_the_first_agent(fleet):
    """`starling up` enables the node exporter resident on its first agent: the
    agent keeps it running and reports it in its heartbeat health."""
    import time
    import urllib.request

    url = fleet.profile["exporter"]
    deadline = time.monotonic() + 30
    body = ""
    while time.monotonic() < deadline:
        try:
            body = urllib.request.urlopen(url, timeout=2).read().decode()
            break
        except OSError:
            time.sleep(0.3)
    assert "node_load1" in body
    first = fleet.profile["agents"][0]["hostname"]
    doc = fleet.json("run", "--host", first, "--action", "agent.exporter.status")
    assert doc["hosts"][0]["state"] == "succeeded", doc
    # The listing shows the latest heartbeat snapshot (written every third of the grace period):
    # the exporter may still read "starting" there for a beat or two.
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        host = next(h for h in fleet.json("hosts")["hosts"] if h["hostname"] == first)
        if "running" in " ".join((host["health"].get("residents") or {}).values()):
            break
        time.sleep(0.5)
    assert "running" in " ".join(host["health"]["residents"].values())


def test_live_output_stream(fleet):
    """`run --stream` prints every host's lines as they come, prefixed by host."""
    proc = fleet.cli("run", "--all", "--stream", "--", "echo s1; sleep 0.5; echo s2 >&2")
    assert proc.returncode == 0, proc.stderr
    lines = [line.split(" | ", 1) for line in proc.stdout.splitlines() if " | " in line]
    hosts = {a["hostname"] for a in fleet.profile["agents"]}
    assert {h.strip() for h, text in lines if text == "s1"} == hosts
    assert {h.strip() for h, text in lines if text == "s2"} == hosts


def test_killed_agent_goes_offline_with_code(fleet):
    victim = fleet.profile["agents"][0]
    os.kill(victim["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        hosts = {h["hostname"]: h for h in fleet.json("hosts")["hosts"]}
        if not hosts[victim["hostname"]]["online"]:
            break
        time.sleep(0.3)
    row = hosts[victim["hostname"]]
    assert row["online"] is False and row["code"] == "E001"
    doc = fleet.json("run", "--all", "--", "echo hi")
    by_name = {h["hostname"]: h for h in doc["hosts"]}
    assert by_name[victim["hostname"]]["code"] == "E001"
    assert by_name[victim["hostname"]]["state"] == "failed"
    assert sum(1 for h in doc["hosts"] if h["stdout"] == "hi\n") == AGENTS - 1


def test_plugin_new_starter_kit(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    starling_bin = str(Path(sys.executable).parent / "starling")
    bad = subprocess.run([starling_bin, "plugin", "new", "Bad-Name", "--dest", str(tmp_path), "--json"], capture_output=True, text=True)
    assert bad.returncode == 2 and '"C001"' in bad.stdout and "Traceback" not in bad.stderr
    ok = subprocess.run([starling_bin, "plugin", "new", "acme", "--dest", str(tmp_path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    root = tmp_path / "starling-acme"
    assert (root / "pyproject.toml").exists() and 'starling.plugins' in (root / "pyproject.toml").read_text()


def test_openapi_description_is_valid(fleet):
    import httpx
    from openapi_spec_validator import validate

    from transports import client_context

    prof = fleet.profile
    doc = httpx.get(prof["api"] + "/openapi.json", verify=client_context(prof["ca_file"])).json()
    validate(doc)
    assert "/v1/jobs" in doc["paths"] and "JobRequest" in doc["components"]["schemas"]
    assert set(doc["components"]["schemas"]["JobRequest"]["properties"]) >= {"action", "params", "hosts", "tags", "idc", "all", "timeout"}
