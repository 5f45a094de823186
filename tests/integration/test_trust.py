"""Issue 13's findings, each reproduced against a real center, proxy and agents.

Every attack from the security review is tried here as an ordinary account
would try it; each must now be refused with its code (or held for a second
person), and nothing may reach a host. Interception is tested with a rule
that blocks a harmless marker (``echo FORBIDDEN-MARKER``), read from
``data/bypasses.toml``: if interception ever failed, an echo would run.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sqlite3
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from center import ApiError, Client

from .conftest import Fleet, up_fleet

pytestmark = pytest.mark.integration

DATA = Path(__file__).with_name("data")
PUBLISHER = Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    pub = base64.b64encode(PUBLISHER.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    env = {"STARLING_CENTER_RISK_RULES": str(DATA / "marker-rules.toml"), "STARLING_CENTER_PLUGIN_PUBLISHERS": pub}
    with up_fleet(tmp_path_factory.mktemp("trust"), 2, env) as f:
        yield f


@pytest.fixture(scope="module")
def admin(fleet: Fleet) -> Iterator[Client]:
    p = fleet.profile
    c = Client(p["api"], p["key_id"], p["secret"], p["ca_file"])
    yield c
    c.close()


def client_for(fleet: Fleet, doc: dict[str, Any]) -> Client:
    p = fleet.profile
    return Client(p["api"], doc["key_id"], doc["secret"], p["ca_file"])


def account(admin: Client, fleet: Fleet, name: str, **scopes: Any) -> Client:
    doc = admin.request("POST", "/v1/accounts", json_body={"name": name, "scopes": scopes})
    return client_for(fleet, doc)


def refused(fn: Any, *args: Any, **kw: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*args, **kw)
    return info.value


def no_new_jobs(admin: Client, before: set[str]) -> None:
    assert {j["job_id"] for j in admin.jobs(200)} == before


# -- interception through every field ------------------------------------------------------


def test_code_in_every_field_is_intercepted(admin: Client) -> None:
    cases = tomllib.loads((DATA / "bypasses.toml").read_text())["case"]
    assert len(cases) >= 8
    before = {j["job_id"] for j in admin.jobs(200)}
    for case in cases:
        err = refused(admin.submit, case["action"], case["params"], all=True)
        assert err.code.value == "C010", (case["name"], err.code, str(err))
        assert "test.forbidden-marker" in str(err), (case["name"], str(err))
    no_new_jobs(admin, before)  # refused before a job row, let alone a dispatch


def test_harmless_use_of_the_same_fields_runs(admin: Client) -> None:
    ok = admin.submit("exec.run", {"cmd": "cat", "stdin": "through stdin\n"}, all=True)
    done = admin.wait(ok["job_id"])
    assert done["counts"] == {"succeeded": 2}
    job = admin.job(ok["job_id"])
    assert {r["stdout"] for r in job["results"]} == {"through stdin\n"}


def test_writing_where_files_are_code_needs_approval(admin: Client) -> None:
    doc = admin.submit("file.write", {"path": "/etc/cron.d/starling-never", "content": "# nothing\n"}, all=True)
    assert doc["state"] == "pending_approval" and any("write-code-path" in r for r in doc["reasons"])
    admin.cancel(doc["job_id"])
    assert not Path("/etc/cron.d/starling-never").exists()


def test_danger_actions_need_an_exact_grant(admin: Client, fleet: Fleet) -> None:
    wild = account(admin, fleet, "exec-wildcard", actions=["exec.*"], all_hosts=True)
    err = refused(wild.submit, "exec.run", {"cmd": "echo hi"}, all=True)
    assert err.code.value == "C009" and "named exactly" in str(err)
    exact = account(admin, fleet, "exec-exact", actions=["exec.run"], all_hosts=True)
    done = exact.wait(exact.submit("exec.run", {"cmd": "echo hi"}, all=True)["job_id"])
    assert done["counts"] == {"succeeded": 2}


def _wheel() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("never_installed/__init__.py", "")
        zf.writestr("never_installed-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: never-installed\nVersion: 1.0\n")
    return buf.getvalue()


def test_packages_must_be_signed_and_approved(admin: Client) -> None:
    wheel = _wheel()
    digest = hashlib.sha256(wheel).hexdigest()
    params = {"wheel_b64": base64.b64encode(wheel).decode(), "sha256": digest}
    assert refused(admin.submit, "agent.install", params, all=True).code.value == "C025"
    forged = Ed25519PrivateKey.generate().sign(digest.encode())
    bad = params | {"signature": base64.b64encode(forged).decode()}
    assert refused(admin.submit, "agent.install", bad, all=True).code.value == "C025"
    good = params | {"signature": base64.b64encode(PUBLISHER.sign(digest.encode())).decode()}
    held = admin.submit("agent.install", good, all=True)
    assert held["state"] == "pending_approval" and any("agent-install" in r for r in held["reasons"])
    admin.cancel(held["job_id"])


# -- what the center knows of actions ---------------------------------------------------------


def test_params_checked_at_submit_with_one_code(admin: Client) -> None:
    before = {j["job_id"] for j in admin.jobs(200)}
    err = refused(admin.submit, "exec.run", {"cmd": "true", "cwd": 5}, all=True)
    assert err.code.value == "C024" and "cwd" in str(err)
    assert refused(admin.submit, "exec.run", {"cmd": "true", "nope": 1}, all=True).code.value == "C024"
    assert refused(admin.submit, "no.such.action", {}, all=True).code.value == "C023"
    # A renamed action's old name is no alias: refused, naming the new one, and nothing is recorded.
    err = refused(admin.submit, "cmd.run", {}, all=True)
    assert err.code.value == "C023" and "renamed to 'exec.run'" in str(err)
    assert refused(admin.submit, "", {}, all=True).code.value == "C001"
    no_new_jobs(admin, before)


def test_declared_timeout_applies(admin: Client) -> None:
    sub = admin.submit("sys.uptime", {}, all=True)
    job = admin.wait(sub["job_id"])
    actions = {a["name"]: a for a in admin.request("GET", "/v1/actions")["actions"]}
    assert job["timeout"] == actions["sys.uptime"]["timeout"]


@pytest.mark.parametrize(
    "body",
    [
        {"action": "exec.run", "params": {"cmd": "true", "big": 2**70}, "all": True},
        {"action": "exec.run", "params": {"cmd": "true"}, "tags": [f"t{i}" for i in range(1000)]},
        {"action": "exec.run", "params": {"cmd": "true"}, "all": True, "deadline": 1e308},
        {"action": "exec.run", "params": {"cmd": "true"}, "all": True, "deadline": -1},
        {"action": "exec.run", "params": {"cmd": "true"}, "all": True, "timeout": 1e-300},
        {"action": "exec.run", "params": {"cmd": "true"}, "all": True, "timeout": 0},
    ],
)
def test_bad_job_bodies_are_c001(admin: Client, body: dict[str, Any]) -> None:
    err = refused(admin.request, "POST", "/v1/jobs", json_body=body)
    assert err.code.value == "C001" and err.status == 400, str(err)


def test_deeply_nested_json_is_c001(admin: Client) -> None:
    nested = "[" * 5000 + '"x"' + "]" * 5000
    raw = '{"action": "exec.run", "all": true, "params": {"cmd": "true", "x": ' + nested + "}}"
    resp = admin._http.post("/v1/jobs", content=raw.encode(), headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "C001", resp.text[:300]


# -- authorization ----------------------------------------------------------------------------


def _host(admin: Client, host_id: str) -> dict[str, Any]:
    return next(h for h in admin.hosts() if h["id"] == host_id)


def _pid_alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_only_admins_revoke_and_revocation_can_be_undone(admin: Client, fleet: Fleet) -> None:
    op = account(admin, fleet, "operator", actions=["sys.*"], all_hosts=True)
    host = admin.hosts()[0]
    assert refused(op.request, "POST", f"/v1/hosts/{host['id']}/revoke").code.value == "C009"
    assert admin.request("POST", f"/v1/hosts/{host['id']}/revoke")["revoked"] is True
    assert refused(admin.submit, "sys.uptime", {}, hosts=[host["hostname"]]).code.value == "C019"
    # The cut-off travels center -> proxy -> agent and back as presence: wait to see it.
    deadline = time.monotonic() + 60
    while _host(admin, host["id"])["online"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _host(admin, host["id"])["online"]
    assert admin.request("POST", f"/v1/hosts/{host['id']}/restore")["revoked"] is False
    assert not _host(admin, host["id"])["revoked"]
    # Leave the fleet as the next tests expect it, both hosts connected. Cut off, the agent
    # asked to enroll again at once: refused while revoked (C019), it stopped, as a revoked
    # agent must; start it again as its service manager would. (Not waiting here left the
    # host offline for the module's later tests: E001 "host offline at approval".)
    agent = next(a for a in fleet.profile["agents"] if a["hostname"] == host["hostname"])
    deadline = time.monotonic() + 60
    while not (row := _host(admin, host["id"]))["online"] and time.monotonic() < deadline:
        if not _pid_alive(agent["pid"]):
            fleet.cli("restart", host["hostname"], check=True)
            agent = next(a for a in fleet.profile["agents"] if a["hostname"] == host["hostname"])
        time.sleep(0.2)
    assert row["online"], row


def test_cancel_only_what_you_may_run(admin: Client, fleet: Fleet) -> None:
    mine = admin.submit("exec.run", {"cmd": "sleep 30"}, all=True)
    other = account(admin, fleet, "other-team", actions=["sys.*"], all_hosts=True)
    assert refused(other.cancel, mine["job_id"]).code.value in ("C004", "C009")
    assert admin.cancel(mine["job_id"])["job_id"] == mine["job_id"]
    done = admin.wait(mine["job_id"])
    assert done["state"] == "cancelled"
    finished = admin.submit("sys.uptime", {}, all=True)
    admin.wait(finished["job_id"])
    err = refused(admin.cancel, finished["job_id"])
    assert err.code.value == "C026"
    assert admin.job(finished["job_id"], results=False)["state"] == "done"


def test_reads_are_scoped(admin: Client, fleet: Fleet) -> None:
    hosts = admin.hosts()
    one = hosts[0]
    scoped = account(admin, fleet, "one-host", actions=["sys.*"], hosts=[one["hostname"]])
    seen = scoped.hosts()
    assert [h["id"] for h in seen] == [one["id"]]
    admins_job = admin.submit("sys.uptime", {}, all=True)["job_id"]
    assert refused(scoped.job, admins_job).code.value == "C004"
    assert refused(scoped.request, "GET", f"/v1/jobs/{admins_job}/output").code.value == "C004"
    own = scoped.submit("sys.uptime", {}, hosts=[one["hostname"]])["job_id"]
    assert {j["job_id"] for j in scoped.jobs()} == {own}
    assert refused(scoped.request, "GET", "/v1/proxies").code.value == "C009"
    assert refused(scoped.request, "GET", "/v1/audit").code.value == "C009"


@pytest.mark.parametrize(
    "scopes", [{"actions": "sys.*"}, {"max_hosts": "abc"}, {"actions": 5}, {"max_hosts": -1}, {"tags": [""]}, {"everything": True}]
)
def test_scopes_are_typed(admin: Client, scopes: dict[str, Any]) -> None:
    err = refused(admin.request, "POST", "/v1/accounts", json_body={"name": "bad-scope", "scopes": scopes})
    assert err.code.value == "C001" and err.status == 400


def test_new_accounts_may_do_nothing(admin: Client, fleet: Fleet) -> None:
    bare = account(admin, fleet, "bare")
    assert refused(bare.submit, "sys.uptime", {}, all=True).code.value == "C009"
    assert bare.hosts() == []


def test_revoking_an_unknown_proxy_is_404_and_changes_nothing(admin: Client) -> None:
    before = [(p["id"], p["revoked"]) for p in admin.proxies()]
    err = refused(admin.request, "POST", "/v1/proxies/no-such-proxy/revoke")
    assert err.code.value == "C027" and err.status == 404
    assert [(p["id"], p["revoked"]) for p in admin.proxies()] == before


def test_one_key_cannot_make_a_second_person(admin: Client, fleet: Fleet) -> None:
    err = refused(admin.request, "POST", "/v1/accounts", json_body={"name": "sock-puppet", "approver": True})
    assert err.code.value == "C009"
    puppet = account(admin, fleet, "puppet", actions=["exec.run"], all_hosts=True, approval_hosts=1)
    assert all(h["online"] for h in admin.hosts())  # the approval fails a host offline at that moment (E001)
    held = puppet.submit("exec.run", {"cmd": "echo held"}, all=True)
    assert held["state"] == "pending_approval"
    # The admin key is an approver, but it created the submitter: not a second person.
    err = refused(admin.request, "POST", f"/v1/jobs/{held['job_id']}/approve")
    assert err.code.value == "C009" and "created" in str(err)
    local = fleet.json("accounts", "create", "real-approver", "--approver", "--local")
    second = client_for(fleet, local)
    assert second.request("POST", f"/v1/jobs/{held['job_id']}/approve")["state"] == "running"
    done = admin.wait(held["job_id"])
    doc = admin.request("GET", f"/v1/jobs/{held['job_id']}")
    assert done["counts"] == {"succeeded": 2}, [(r.get("state"), r.get("code"), r.get("message")) for r in doc.get("results", [])]


def test_account_lifecycle(admin: Client, fleet: Fleet) -> None:
    doc = admin.request("POST", "/v1/accounts", json_body={"name": "rotating", "scopes": {"actions": ["sys.*"], "all_hosts": True}})
    c = client_for(fleet, doc)
    assert c.hosts()
    admin.request("POST", f"/v1/accounts/{doc['key_id']}/disable")
    assert refused(c.hosts).code.value == "C007"
    admin.request("POST", f"/v1/accounts/{doc['key_id']}/enable")
    assert c.hosts()
    new = admin.request("POST", f"/v1/accounts/{doc['key_id']}/rotate")
    assert refused(c.hosts).code.value == "C007"
    assert client_for(fleet, new).hosts()
    assert refused(admin.request, "POST", f"/v1/accounts/{fleet.profile['key_id']}/disable").code.value == "C001"
    admin.request("DELETE", f"/v1/accounts/{doc['key_id']}")
    assert refused(client_for(fleet, new).hosts).code.value == "C007"


def test_no_plain_secret_in_the_database(admin: Client, fleet: Fleet) -> None:
    doc = admin.request("POST", "/v1/accounts", json_body={"name": "secretive"})
    db = fleet.home / "center" / "center.db"
    con = sqlite3.connect(db)
    try:
        stored = [row[0] for row in con.execute("SELECT secret FROM accounts")]
    finally:
        con.close()
    assert stored and all(s.startswith("v1:") for s in stored)
    assert not any(doc["secret"] in s or fleet.profile["secret"] in s for s in stored)
    assert (fleet.home / "center" / "keys" / "accounts.key").stat().st_mode & 0o777 == 0o600


def test_unknown_routes_and_methods_answer_in_the_catalogue(admin: Client) -> None:
    r = admin._http.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "C028"
    r = admin._http.delete("/v1/jobs")
    assert r.status_code == 405 and r.json()["error"]["code"] == "C029"
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_reads_are_not_audited(admin: Client, fleet: Fleet) -> None:
    before = fleet.json("audit", "verify")["head"]["seq"]
    for _ in range(5):
        admin.hosts()
        admin.jobs()
    time.sleep(0.5)
    after = fleet.json("audit", "verify")["head"]["seq"]
    assert after == before
