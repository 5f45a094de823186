"""Issue 11 end to end: real center, proxy and agent processes whose health the
test controls. A failed task on a full disk (a small tmpfs the test mounts), a
host with no heartbeat (its agent SIGSTOPped), a stopped agent: each shows the
right diagnosis and owner in the API and the CLI. A canary wave stops the job at
the error threshold. Targeting, dry runs, host lifecycle, the CMDB check and the
chat bot run against the same fleet.

The fleet runs with a 2 s heartbeat (grace 6 s), hosts offline for more than
4 s drop out of --all, and a Slack/DingTalk/Feishu signing secret each.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from transports import client_context

from .conftest import BIN

pytestmark = pytest.mark.integration

AGENTS = 6
SECRETS = {"slack": "slack-signing-secret", "dingtalk": "ding-app-secret", "feishu": "lark-encrypt-key"}
#: Fails on the hosts whose agent directory holds FAIL-MARKER: walks up the
#: process tree to the agent (`python -m agent_core._daemon -c DIR/agent.toml`)
#: and looks in DIR. The module name is split in quotes so that this very
#: command line (which a task's guardian process carries) does not match it.
MARKER_CMD = (
    'p=$PPID; d=/nonexistent; while [ "$p" -gt 1 ]; do c=$(tr "\\0" "\\n" < /proc/$p/cmdline); '
    'case "$c" in *"agent_core._dae""mon"*) d=$(dirname "$(echo "$c" | tail -n 1)"); break;; esac; '
    'p=$(cut -d" " -f4 /proc/$p/stat); done; test ! -e "$d/FAIL-MARKER"'
)


class Fleet:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env
        self.profile = json.loads((home / "up.json").read_text())
        self.machine = self.profile["agents"][0]["hostname"].rsplit("-", 1)[0]

    def cli(self, *args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "starling"), *args], capture_output=True, text=True, env=self.env, timeout=timeout, input=stdin)

    def json(self, *args: str, stdin: str | None = None) -> Any:
        if "--" in args:
            i = args.index("--")
            args = (*args[:i], "--json", *args[i:])
        else:
            args = (*args, "--json")
        proc = self.cli(*args, stdin=stdin)
        try:
            return json.loads(proc.stdout)
        except ValueError as exc:
            raise AssertionError(f"not JSON ({proc.returncode}): {proc.stdout}\n{proc.stderr}") from exc

    def client(self) -> Any:
        from center import Client

        p = self.profile
        return Client(p["api"], p["key_id"], p["secret"], p["ca_file"])

    def host(self, i: int) -> str:
        return f"{self.machine}-a{i:03d}"

    def agent(self, i: int) -> dict[str, Any]:
        return self.profile["agents"][i - 1]

    def wait_host(self, name: str, pred: Any, timeout: float = 30) -> dict[str, Any]:
        end = time.monotonic() + timeout
        row: dict[str, Any] = {}
        while time.monotonic() < end:
            rows = self.client().hosts(host=name)
            row = rows[0] if rows else {}
            if row and pred(row):
                return row
            time.sleep(0.3)
        raise AssertionError(f"{name} never reached the expected state: {row}")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    home = tmp_path_factory.mktemp("diag")
    env = dict(os.environ, STARLING_HOME=str(home), COLUMNS="200")
    env.pop("STARLING_API", None)
    up_env = env | {
        "STARLING_CENTER_HEARTBEAT": "2", "STARLING_PROXY_HEARTBEAT": "2", "STARLING_CENTER_OFFLINE_AFTER": "4",
        "STARLING_CENTER_CHAT_SECRETS": json.dumps(SECRETS),
        # Other suites load this box too: neither the agents' throttle nor the
        # load finding may depend on it (this test controls health itself).
        "STARLING_AGENT_MAX_LOAD_PER_CPU": "0", "STARLING_CENTER_DIAG_LOAD_PER_CPU": "1000",
    }
    # `starling up` keeps the secrets it finds; the chat bot acts as this admin account.
    (home / "secrets.json").write_text(json.dumps({"enroll_token": "enroll-diag-test", "proxy_token": "proxy-diag-test", "key_id": "admin-diag", "secret": "s" * 32}))
    proc = subprocess.run([str(BIN / "starling"), "up", "--agents", str(AGENTS), "--port", "0", "--detach", "--no-demo"],
                          capture_output=True, text=True, env=up_env | {"STARLING_CENTER_CHAT_ACCOUNT": "admin-diag"}, timeout=180)
    if proc.returncode != 0:
        subprocess.run([str(BIN / "starling"), "down"], env=env, timeout=60)
        raise AssertionError(f"starling up failed:\n{proc.stdout}\n{proc.stderr}")
    f = Fleet(home, env)
    try:
        yield f
    finally:
        for a in f.profile["agents"]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(a["pid"], signal.SIGCONT)
        subprocess.run([str(BIN / "starling"), "down"], env=env, timeout=60)


def test_targeting_and_dry_run(fleet):
    # The bug of issue 11: a host that exists but lacks the tag is not "unknown".
    doc = fleet.json("run", "--tag", "even", "--host", fleet.host(1), "--", "true")
    assert doc["error"]["code"] == "C003" and "without the tags" in doc["error"]["message"], doc
    assert fleet.json("run", "--host", "no-such-host", "--", "true")["error"]["code"] == "C002"
    doc = fleet.json("run", "--tag", "even", "--host", fleet.host(1), "--host", fleet.host(2), "--dry-run")
    assert doc["count"] == 1 and doc["hosts"][0]["hostname"] == fleet.host(2) and doc["filtered_named"] == [fleet.host(1)]
    doc = fleet.json("run", "--all", "--tags-all", "local", "--exclude-tag", "odd", "--exclude-host", fleet.host(6), "--dry-run")
    assert sorted(h["hostname"] for h in doc["hosts"]) == [fleet.host(2), fleet.host(4)] and doc["excluded"] == 4
    listing = f"{fleet.host(1)}, {fleet.host(3)}  # two hosts\n{fleet.host(5)}\n"
    doc = fleet.json("run", "--hosts-file", "-", "--exclude-host", fleet.host(3), "--agent-version", ">=0.1", "--dry-run", stdin=listing)
    assert sorted(h["hostname"] for h in doc["hosts"]) == [fleet.host(1), fleet.host(5)]
    proc = fleet.cli("run", "--all", "--os", "*", "--health", "healthy", "--dry-run")
    assert proc.returncode == 0 and f"{AGENTS} hosts would run" in proc.stdout, proc.stdout + proc.stderr
    rows = fleet.json("hosts", "--tags-all", "even", "--health", "healthy")["hosts"]
    assert len(rows) == AGENTS // 2 and all(r["diagnosis"]["healthy"] for r in rows)


def test_canary_wave_stops_the_job_at_the_threshold(fleet):
    markers = [Path(fleet.agent(i)["dir"]) / "FAIL-MARKER" for i in (1, 2)]
    for m in markers:
        m.write_text("fail here\n")
    try:
        doc = fleet.json("run", "--all", "--canary", "2", "--max-failures", "1", "--", MARKER_CMD)
        by = {h["hostname"]: h for h in doc["hosts"]}
        assert {n: (by[n]["state"], by[n]["code"]) for n in (fleet.host(1), fleet.host(2))} == {fleet.host(1): ("failed", "A008"), fleet.host(2): ("failed", "A008")}
        rest = [by[fleet.host(i)] for i in range(3, AGENTS + 1)]
        assert {(h["state"], h["code"]) for h in rest} == {("cancelled", "C034")}, rest
        assert doc["rollout"]["state"] == "stopped" and "above the threshold of 1" in doc["rollout"]["reason"]
        # Below the threshold the waves go on: one failure allowed, every host runs.
        doc = fleet.json("run", "--all", "--canary", "1", "--growth", "2", "--max-failures", "2", "--", MARKER_CMD)
        assert doc["counts"] == {"failed": 2, "succeeded": AGENTS - 2} and doc["rollout"]["state"] == "done" and doc["rollout"]["waves"] == 3
        proc = fleet.cli("run", "--all", "--canary", "2", "--max-failures", "0%", "--", MARKER_CMD)
        assert proc.returncode == 1 and "rollout stopped" in proc.stdout and "C034" in proc.stdout, proc.stdout
    finally:
        for m in markers:
            m.unlink()


def test_a_held_job_keeps_its_rollout(fleet):
    """Approval does not bypass the rollout: after approval the canary runs first
    and the threshold still stops the job."""
    op = fleet.json("accounts", "create", "rollout-op", "--actions", "exec.run", "--all-hosts", "--approval-hosts", "1")
    approver = fleet.json("accounts", "create", "rollout-approver", "--approver", "--local", "--actions", "exec.run", "--all-hosts")
    as_op = Fleet(fleet.home, fleet.env | {"STARLING_KEY_ID": op["key_id"], "STARLING_SECRET": op["secret"]})
    as_approver = Fleet(fleet.home, fleet.env | {"STARLING_KEY_ID": approver["key_id"], "STARLING_SECRET": approver["secret"]})
    marker = Path(fleet.agent(1)["dir"]) / "FAIL-MARKER"
    marker.write_text("fail here\n")
    try:
        held = as_op.json("run", "--all", "--canary", "1", "--max-failures", "0", "--", MARKER_CMD)
        assert held["state"] == "pending_approval", held
        assert as_approver.json("approve", held["job_id"])["state"] == "running"
        done = fleet.json("job", held["job_id"], "--wait")
        by = {h["hostname"]: (h["state"], h["code"]) for h in done["hosts"]}
        assert by[fleet.host(1)] == ("failed", "A008")
        assert {by[fleet.host(i)] for i in range(2, AGENTS + 1)} == {("cancelled", "C034")}, by
    finally:
        marker.unlink()


def _intervals(client: Any, job_id: str) -> list[tuple[float, float, float]]:
    job = client.job(job_id)
    return [(r["times"]["dispatched"], r["times"]["running"], r["times"]["finished"]) for r in job["results"]]


def test_concurrency_limit_and_pause_between_waves(fleet):
    client = fleet.client()
    doc = fleet.json("run", "--all", "--concurrency", "2", "--", "sleep 0.5")
    assert doc["counts"] == {"succeeded": AGENTS}
    spans = [(run, fin) for _d, run, fin in _intervals(client, doc["job_id"])]
    most = max(sum(1 for r2, f2 in spans if r2 < f and f2 > r) for r, f in spans)
    assert most <= 2, spans
    doc = fleet.json("run", "--all", "--canary", "1", "--pause", "1", "--", "true")
    assert doc["counts"] == {"succeeded": AGENTS}
    times = sorted(_intervals(client, doc["job_id"]), key=lambda t: t[0])
    first_done = times[0][2]
    assert all(d - first_done >= 0.9 for d, _r, _f in times[1:]), "the second wave waits for the pause after the canary"


def _mount_tmpfs(path: Path) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(path)], capture_output=True).returncode == 0


def test_full_disk_diagnosis_with_owner(fleet, tmp_path):
    mnt = tmp_path / "full"
    if not _mount_tmpfs(mnt):
        pytest.skip("cannot mount a tmpfs here (needs root and mount)")
    agent = None
    try:
        with contextlib.suppress(OSError), open(mnt / "filler", "wb") as fh:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        adir = tmp_path / "agent-disk"
        adir.mkdir()
        src = Path(fleet.agent(2)["dir"]) / "agent.toml"
        conf = src.read_text().replace(fleet.agent(2)["dir"], str(adir))
        (adir / "agent.toml").write_text(conf + f"health_mounts = [{json.dumps(str(mnt))}]\nmax_load_per_cpu = 0.0\n")
        (adir / "identity.toml").write_text(f'sn = "disk-sn-{os.getpid()}"\nhostname = "{fleet.machine}-disk"\nidc = "local"\ntags = ["disk"]\n')
        agent = subprocess.Popen([sys.executable, "-m", "agent_core._daemon", "-c", str(adir / "agent.toml")], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
        name = f"{fleet.machine}-disk"
        fleet.wait_host(name, lambda r: r["online"] and any(d["mount"] == str(mnt) for d in r["health"].get("disks", [])))
        csv = tmp_path / "cmdb.csv"
        csv.write_text(f"sn,ip,hostname,owner,idc,tags\ndisk-sn-{os.getpid()},192.0.2.2,{name},storage-team,local,disk\n")
        assert fleet.cli("cmdb", "import", str(csv)).returncode == 0
        doc = fleet.json("run", "--host", name, "--", f"echo more > {mnt}/more")
        h = doc["hosts"][0]
        assert (h["state"], h["code"]) == ("failed", "A008")
        diag = h["diagnosis"]
        assert diag["code"] == "E002" and diag["owner"] == "storage-team", diag
        ev = diag["findings"][0]["evidence"]
        assert ev["mount"] == str(mnt) and ev["fill"] >= 0.98
        api = fleet.client().job(doc["job_id"])["results"][0]["diagnosis"]
        assert api["code"] == "E002" and api["owner"] == "storage-team"
        proc = fleet.cli("job", doc["job_id"])
        assert "E002 disk full" in proc.stdout and "owner: storage-team" in proc.stdout and str(mnt) in proc.stdout, proc.stdout
        live = fleet.json("diag", name)
        assert live["live"] and [f["code"] for f in live["findings"]] == ["E002"] and [h["ok"] for h in live["hops"]] == [True] * 4
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(10)
            fleet.cli("forget", f"{fleet.machine}-disk", "--force")
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_stopped_agent_and_no_heartbeat(fleet, tmp_path):
    stopped, frozen = 5, 6
    _owners_cmdb(fleet, tmp_path)
    os.kill(fleet.agent(stopped)["pid"], signal.SIGTERM)
    os.kill(fleet.agent(frozen)["pid"], signal.SIGSTOP)
    try:
        fleet.wait_host(fleet.host(stopped), lambda r: not r["online"])
        fleet.wait_host(fleet.host(frozen), lambda r: not r["online"] and r["code"] == "E005")
        doc = fleet.json("run", "--host", fleet.host(stopped), "--host", fleet.host(frozen), "--", "true")
        by = {h["hostname"]: h for h in doc["hosts"]}
        s, f = by[fleet.host(stopped)], by[fleet.host(frozen)]
        assert (s["code"], s["diagnosis"]["code"], s["diagnosis"]["owner"]) == ("E001", "E001", f"owner-{stopped}")
        assert "agent not running" in s["diagnosis"]["summary"] and "down since" in s["diagnosis"]["summary"]
        assert (f["code"], f["diagnosis"]["code"], f["diagnosis"]["owner"]) == ("E005", "E005", f"owner-{frozen}")
        assert "no heartbeat for" in f["diagnosis"]["summary"] and f["diagnosis"]["findings"][0]["evidence"]["silent_for"] >= 6
        proc = fleet.cli("job", doc["job_id"])
        assert "agent not running" in proc.stdout and f"owner: owner-{stopped}" in proc.stdout and f"owner: owner-{frozen}" in proc.stdout, proc.stdout
        live = fleet.json("diag", fleet.host(frozen))
        assert not live["healthy"] and [h["ok"] for h in live["hops"]][:3] == [True, True, False]
        # Skipping unhealthy hosts records their diagnosis instead of failing them.
        doc = fleet.json("run", "--tag", "local", "--skip-unhealthy", "--", "true")
        by = {h["hostname"]: h for h in doc["hosts"]}
        assert (by[fleet.host(stopped)]["state"], by[fleet.host(stopped)]["code"], by[fleet.host(stopped)]["diagnosis"]["code"]) == ("cancelled", "C033", "E001")
        assert by[fleet.host(frozen)]["diagnosis"]["code"] == "E005"
        assert doc["counts"] == {"succeeded": AGENTS - 2, "cancelled": 2}
        # Offline for longer than offline_after (4 s): out of --all, and the summary says so.
        time.sleep(max(0.0, 4.5 - (time.time() - fleet.wait_host(fleet.host(stopped), lambda r: True)["last_seen"])))
        doc = fleet.json("run", "--all", "--", "true")
        assert doc["total"] == AGENTS - 2 and doc["stale_offline"] == 2, doc
        proc = fleet.cli("run", "--all", "--", "true")
        assert "left out of --all" in proc.stdout, proc.stdout
        answer = _chat(fleet, "slack", f"<@U0BOT> why {doc['job_id']}")
        assert "succeeded" in answer["text"]
        failed_job = fleet.json("run", "--host", fleet.host(frozen), "--", "true")["job_id"]
        answer = _chat(fleet, "dingtalk", f"@starling why {failed_job}")
        assert "E005" in answer["text"]["content"] and f"owner owner-{frozen}" in answer["text"]["content"]
    finally:
        os.kill(fleet.agent(frozen)["pid"], signal.SIGCONT)


def _owners_cmdb(fleet: Fleet, tmp_path: Path) -> None:
    rows = ["sn,ip,hostname,owner,idc\n"] + [f",,{fleet.host(i)},owner-{i},local\n" for i in range(1, AGENTS + 1)]
    (tmp_path / "cmdb.csv").write_text("".join(rows))
    assert fleet.cli("cmdb", "import", str(tmp_path / "cmdb.csv")).returncode == 0


def _chat(fleet: Fleet, tool: str, text: str, *, tamper: bool = False) -> Any:
    now = time.time()
    secret = SECRETS[tool]
    if tool == "slack":
        body = json.dumps({"type": "event_callback", "event": {"type": "app_mention", "user": "U1", "text": text}}).encode()
        ts = str(int(now))
        headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()}
    elif tool == "dingtalk":
        body = json.dumps({"msgtype": "text", "text": {"content": text}, "senderNick": "ops"}).encode()
        ts = str(int(now * 1000))
        headers = {"timestamp": ts, "sign": base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()).decode()}
    else:
        body = json.dumps({"schema": "2.0", "header": {"event_type": "im.message.receive_v1"},
                           "event": {"sender": {"sender_id": {"open_id": "ou_1"}}, "message": {"content": json.dumps({"text": text})}}}).encode()
        ts, nonce = str(int(now)), "nonce-1"
        headers = {"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": hashlib.sha256((ts + nonce + secret).encode() + body).hexdigest()}
    if tamper:
        body = body.replace(b"diag", b"why ")
    with httpx.Client(verify=client_context(fleet.profile["ca_file"]), timeout=30) as http:
        resp = http.post(f"{fleet.profile['api']}/v1/chat/{tool}", content=body, headers=headers | {"Content-Type": "application/json"})
    return resp.json() | {"_status": resp.status_code}


def test_chat_bot_answers_and_refuses_bad_signatures(fleet, tmp_path):
    _owners_cmdb(fleet, tmp_path)
    name = fleet.host(2)
    answer = _chat(fleet, "slack", f"<@U0BOT> diag {name}")
    assert answer["_status"] == 200 and name in answer["text"] and "ok  proxy->agent" in answer["text"] and "agent answered" in answer["text"], answer
    answer = _chat(fleet, "feishu", f"@_user_1 host {name}")
    assert answer["msg_type"] == "text" and name in answer["content"]["text"] and "owner: owner-2" in answer["content"]["text"], answer
    answer = _chat(fleet, "dingtalk", "@starling help me")
    assert "diag HOST" in answer["text"]["content"]
    assert _chat(fleet, "slack", "<@U0BOT> why jnope")["text"].startswith("C004")
    assert _chat(fleet, "slack", "<@U0BOT> host no-such-host")["text"].startswith("C002")
    for tool in SECRETS:
        bad = _chat(fleet, tool, f"@starling diag {name}", tamper=tool != "dingtalk")
        if tool == "dingtalk":
            continue  # DingTalk signs only the timestamp; a wrong secret is the refusal case below
        assert bad["_status"] == 401 and bad["error"]["code"] == "C007", bad
    with httpx.Client(verify=client_context(fleet.profile["ca_file"]), timeout=30) as http:
        resp = http.post(f"{fleet.profile['api']}/v1/chat/dingtalk", content=b"{}", headers={"timestamp": str(int(time.time() * 1000)), "sign": "AAAA"})
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "C007"
        resp = http.post(f"{fleet.profile['api']}/v1/chat/irc", content=b"{}")
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "C028"
        challenge = json.dumps({"type": "url_verification", "challenge": "c-123"}).encode()
        ts = str(int(time.time()))
        sig = "v0=" + hmac.new(SECRETS["slack"].encode(), b"v0:" + ts.encode() + b":" + challenge, hashlib.sha256).hexdigest()
        resp = http.post(f"{fleet.profile['api']}/v1/chat/slack", content=challenge, headers={"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig})
        assert resp.json() == {"challenge": "c-123"}


def test_cmdb_check_cli_and_host_lifecycle(fleet, tmp_path):
    (tmp_path / "cmdb.json").write_text(json.dumps([
        {"hostname": fleet.host(1), "sn": "WRONG-SN", "owner": "x"},
        {"hostname": "ghost-1", "sn": "GHOST", "ip": "10.9.9.9", "owner": "y"},
    ]))
    assert fleet.cli("cmdb", "import", str(tmp_path / "cmdb.json")).returncode == 0
    doc = fleet.json("cmdb", "check")
    kinds = {i["kind"] for i in doc["issues"]}
    assert {"sn_differs", "no_agent", "not_in_cmdb", "duplicate_ip"} <= kinds, kinds
    proc = fleet.cli("cmdb", "check")
    assert proc.returncode == 1 and "sn_differs" in proc.stdout and "ghost-1" in proc.stdout, proc.stdout
    assert fleet.json("cmdb", "sync")["updated"] == 0
    # Forget a stopped host; revoke a running one.
    name = fleet.host(5)
    assert fleet.json("forget", name)["forgotten"] is True
    assert fleet.json("run", "--host", name, "--", "true")["error"]["code"] == "C002"
    assert fleet.json("forget", fleet.host(4))["error"]["code"] == "C001", "an online host is not forgotten without --force"
    assert fleet.cli("revoke", fleet.host(4)).returncode == 0
    assert fleet.json("run", "--host", fleet.host(4), "--", "true")["error"]["code"] == "C019"
