"""Security through the real center: signed requests, scopes, interception,
approvals, command mapping, revocation and the audit chain."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from center.security import sign_request
from transports import client_context

from .conftest import Fleet

pytestmark = pytest.mark.integration

AGENTS = 4


def as_account(fleet: Fleet, key_id: str, secret: str):
    class Other(Fleet):
        def cli(self, *args, **kw):
            old = {k: os.environ.get(k) for k in ("STARLING_KEY_ID", "STARLING_SECRET")}
            os.environ.update(STARLING_KEY_ID=key_id, STARLING_SECRET=secret)
            try:
                return super().cli(*args, **kw)
            finally:
                for k, v in old.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v

        def json(self, *args, **kw):
            proc = self.cli(*_with_json(args), **kw)
            return json.loads(proc.stdout)

    return Other(fleet.home)


def _with_json(args):
    args = list(args)
    if "--" in args:
        i = args.index("--")
        return [*args[:i], "--json", *args[i:]]
    return [*args, "--json"]


def test_blocked_command_never_dispatched(fleet):
    doc = fleet.json("run", "--all", "--", 'X=rm; $X -r""f /')
    assert doc["error"]["code"] == "C010" and "fs.rm-recursive-system" in doc["error"]["message"]
    proc = fleet.cli("risk", "check", "--", "echo aGFsdCAtcAo= | base64 -d | sh")
    assert proc.returncode != 0 and proc.stdout.startswith("block")


def test_approval_needs_a_second_person(fleet):
    target = "/home/starling-approval-test-does-not-exist"
    doc = fleet.json("run", "--all", "--", f"rm -rf {target}; echo removed")
    assert doc["state"] == "pending_approval" and doc["code"] == "C011" and doc["reasons"]
    job_id = doc["job_id"]
    again = fleet.json("job", job_id)
    assert again["state"] == "pending_approval" and again["counts"] == {"created": AGENTS}
    mine = fleet.json("approve", job_id)
    assert mine["error"]["code"] == "C009"  # the submitter cannot approve
    plain = fleet.json("accounts", "create", "plain-ops")
    assert as_account(fleet, plain["key_id"], plain["secret"]).json("approve", job_id)["error"]["code"] == "C009"
    assert fleet.json("accounts", "create", "api-approver", "--approver")["error"]["code"] == "C009"  # not through the API
    approver = fleet.json("accounts", "create", "second-ops", "--approver", "--local")
    ok = as_account(fleet, approver["key_id"], approver["secret"]).json("approve", job_id)
    assert ok["state"] == "running"
    done = fleet.json("job", job_id, "--wait")
    assert [h["stdout"] for h in done["hosts"]] == ["removed\n"] * AGENTS


def test_reject_and_blast_radius(fleet):
    small = fleet.json("accounts", "create", "small-radius", "--approval-hosts", "2", "--actions", "exec.run", "--all-hosts")
    other = as_account(fleet, small["key_id"], small["secret"])
    held = other.json("run", "--all", "--", "echo hi")
    assert held["state"] == "pending_approval" and "threshold" in held["reasons"][0]
    ran = other.json("run", "--tag", "even", "--", "echo hi")
    assert ran["counts"] == {"succeeded": AGENTS // 2}
    rejected = fleet.json("reject", held["job_id"])  # the admin is a second person here
    assert rejected["state"] == "rejected"
    job = fleet.json("job", held["job_id"])
    assert {h["code"] for h in job["hosts"]} == {"C012"}


def test_scopes(fleet):
    acct = fleet.json("accounts", "create", "even-readonly", "--tags", "even", "--actions", "sys.*", "--max-hosts", "10")
    other = as_account(fleet, acct["key_id"], acct["secret"])
    assert other.json("run", "--all", "--action", "sys.info")["error"]["code"] == "C009"
    assert other.json("run", "--tag", "even", "--", "echo hi")["error"]["code"] == "C009"
    ok = other.json("run", "--tag", "even", "--action", "sys.info")
    assert ok["counts"] == {"succeeded": AGENTS // 2}
    tiny = fleet.json("accounts", "create", "tiny", "--max-hosts", "1", "--actions", "exec.run", "--all-hosts")
    assert as_account(fleet, tiny["key_id"], tiny["secret"]).json("run", "--all", "--", "true")["error"]["code"] == "C013"


def test_command_mapping(fleet):
    acct = fleet.json("accounts", "create", "mapped", "--actions", "exec.run", "--all-hosts")
    table = fleet.json("accounts", "mapping", acct["key_id"], "echo mapped-run", "uname")["mapping"]
    alias = next(a for a, c in table.items() if c == "echo mapped-run")
    other = as_account(fleet, acct["key_id"], acct["secret"])
    assert other.json("run", "--all", "--", "echo mapped-run")["error"]["code"] == "C014"
    doc = other.json("run", "--all", "--", alias)
    assert [h["stdout"] for h in doc["hosts"]] == ["mapped-run\n"] * AGENTS
    uname_alias = next(a for a, c in table.items() if c == "uname")
    doc = other.json("run", "--all", "--", f"{uname_alias} -s")
    assert {h["stdout"] for h in doc["hosts"]} == {"Linux\n"}


def test_signed_requests_refused_when_wrong(fleet):
    prof = fleet.profile
    url = prof["api"] + "/v1/hosts"
    with httpx.Client(verify=client_context(prof["ca_file"])) as http:
        r = http.get(url)
        assert r.status_code == 401 and r.json()["error"]["code"] == "C007"
        headers = sign_request(prof["key_id"], prof["secret"].encode(), "GET", url, b"")
        assert http.get(url, headers=headers).status_code == 200
        replay = http.get(url, headers=headers)
        assert replay.status_code == 401 and replay.json()["error"]["code"] == "C008"
        bad = sign_request(prof["key_id"], b"wrong-secret", "GET", url, b"")
        assert http.get(url, headers=bad).json()["error"]["code"] == "C007"
        old = sign_request(prof["key_id"], prof["secret"].encode(), "GET", url, b"", now=time.time() - 3600)
        assert http.get(url, headers=old).json()["error"]["code"] == "C008"
        tampered = sign_request(prof["key_id"], prof["secret"].encode(), "POST", prof["api"] + "/v1/jobs", b'{"action":"sys.info","all":true}')
        r = http.post(prof["api"] + "/v1/jobs", headers=tampered, content=b'{"action":"exec.run","params":{"cmd":"id"},"all":true}')
        assert r.json()["error"]["code"] == "C007"


async def test_stolen_credential_is_useless_without_the_agent_key(fleet):
    """A credential copied off a host cannot open a session: the hello must be
    signed with the agent's own key, which never leaves the host."""
    import msgspec
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from transports import ErrorMsg, Hello, Welcome, get_carrier
    from transports._signing import sign_hello

    agent = fleet.profile["agents"][-1]
    enrollment = json.loads((Path(agent["dir"]) / "enrollment.json").read_text())
    url = next(u for u in enrollment["proxies"][0]["urls"] if u.startswith("tcp://"))
    ctx = client_context(fleet.profile["ca_file"])
    attempts = {
        "no proof": {},
        "someone else's key": {"proof": sign_hello(ed25519.Ed25519PrivateKey.generate(), enrollment["agent_id"], time.time()), "ts": time.time()},
    }
    for label, extra in attempts.items():
        ch = await get_carrier(url).connect(url, ssl_context=ctx)
        async with ch:
            await ch.send(Hello(role="agent", node_id=enrollment["agent_id"], credential=enrollment["credential"].encode(), **extra))
            answer = await ch.receive()
        assert isinstance(answer, ErrorMsg) and answer.code == "P005", (label, answer)
        assert not isinstance(answer, Welcome)
    assert msgspec.json.decode((Path(agent["dir"]) / "enrollment.json").read_bytes())["agent_id"]


def test_enrollment_without_a_key_is_refused(fleet):
    """Every agent enrolls with its Ed25519 public key (the credential is bound
    to it): a registration without one is refused with C001, and a malformed
    key too; nothing is registered."""
    prof = fleet.profile
    token = json.loads((fleet.home / "secrets.json").read_text())["enroll_token"]
    url = prof["api"] + "/v1/agents/register"
    with httpx.Client(verify=client_context(prof["ca_file"])) as http:
        for extra in ({}, {"public_key": ""}, {"public_key": "bm90LWEta2V5"}, {"public_key": "!!"}):
            r = http.post(url, json={"token": token, "identity": {"sn": "keyless-1", "hostname": "keyless-1"}, **extra})
            assert r.status_code == 400 and r.json()["error"]["code"] == "C001", (extra, r.text)
            assert "public_key" in r.json()["error"]["message"]
    assert not [h for h in fleet.json("hosts")["hosts"] if h["hostname"] == "keyless-1"]


def test_revoked_host_is_cut_off(fleet):
    hosts = fleet.json("hosts")["hosts"]
    victim = next(h for h in hosts if h["online"])
    agent = next(a for a in fleet.profile["agents"] if a["hostname"] == victim["hostname"])
    from center import Client

    prof = fleet.profile
    c = Client(prof["api"], prof["key_id"], prof["secret"], prof["ca_file"])
    c.request("POST", f"/v1/hosts/{victim['host_id']}/revoke")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        row = next(h for h in c.hosts() if h["id"] == victim["host_id"])
        if not row["online"]:
            break
        time.sleep(0.2)
    assert not row["online"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _alive(agent["pid"]):
        time.sleep(0.2)
    assert not _alive(agent["pid"]), "a revoked agent must stop (its re-enrollment is refused with C019)"
    assert fleet.json("run", "--host", victim["hostname"], "--", "true")["error"]["code"] == "C019"
    c.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_audit_chain_detects_tampering(fleet):
    ok = fleet.json("audit", "verify")
    assert ok["ok"] and ok["head"]["seq"] > 10
    records = fleet.json("audit", "list", "--limit", "1000")["records"]
    kinds = {r["kind"] for r in records}
    assert {"api", "job.submit", "job.dispatch", "job.approve", "job.refused", "account.create"} <= kinds
    db = fleet.home / "center" / "center.db"
    con = sqlite3.connect(db)
    con.execute("UPDATE audit_log SET actor='nobody' WHERE seq=5")
    con.commit()
    con.close()
    bad = fleet.json("audit", "verify")
    assert not bad["ok"] and any(p["seq"] == 5 for p in bad["problems"])


def test_revoked_proxy_is_refused(fleet):
    """Last in this module: it takes the only proxy away."""
    from center import Client

    prof = fleet.profile
    c = Client(prof["api"], prof["key_id"], prof["secret"], prof["ca_file"])
    try:
        c.request("POST", "/v1/proxies/proxy-1/revoke")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(h["online"] for h in c.hosts()):
            time.sleep(0.2)
        assert not any(h["online"] for h in c.hosts())
        assert all(p["id"] != "proxy-1" for p in c.proxies())
        time.sleep(3)  # the proxy keeps trying; the center keeps refusing it
        log = (fleet.home / "logs" / "center.log").read_text()
        assert "proxy proxy-1 refused: revoked" in log
    finally:
        c.close()
