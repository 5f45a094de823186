"""The permission table, walked: every route, every role, in scope and out of scope,
against a real center. The expected statuses are written out here by hand, not
derived from :data:`center._authz.ROUTES`, so the table and this test check
each other; a route missing here fails the test."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from center import Client
from center._authz import ROUTES
from center.security import StarlingAuth
from transports import client_context

from .conftest import Fleet, up_fleet

pytestmark = pytest.mark.integration

ROLES = ("anonymous", "disabled", "bare", "operator", "approver", "admin")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with up_fleet(tmp_path_factory.mktemp("authz"), 2) as fleet:
        yield from _world(fleet)


def _world(fleet: Fleet) -> Iterator[dict[str, Any]]:
    p = fleet.profile
    admin = Client(p["api"], p["key_id"], p["secret"], p["ca_file"])

    def make(name: str, **scopes: Any) -> dict[str, str]:
        return admin.request("POST", "/v1/accounts", json_body={"name": name, "scopes": scopes})

    keys = {
        "admin": {"key_id": p["key_id"], "secret": p["secret"]},
        "bare": make("bare"),
        "operator": make("operator", actions=["sys.*", "exec.run"], all_hosts=True, approval_hosts=1),
        "disabled": make("disabled", actions=["sys.*"], all_hosts=True),
        "approver": fleet.json("accounts", "create", "approver", "--approver", "--local", "--actions", "sys.*", "--all-hosts"),
    }
    admin.request("POST", f"/v1/accounts/{keys['disabled']['key_id']}/disable")
    clients = {name: Client(p["api"], k["key_id"], k["secret"], p["ca_file"]) for name, k in keys.items()}
    admin_job = admin.submit("sys.uptime", {}, all=True)["job_id"]
    op_job = clients["operator"].submit("sys.uptime", {}, hosts=[admin.hosts()[0]["hostname"]])["job_id"]
    admin.wait(admin_job)
    admin.wait(op_job)
    try:
        yield {
            "fleet": fleet, "admin": admin, "keys": keys, "clients": clients, "admin_job": admin_job, "op_job": op_job,
            "host": admin.hosts()[0]["id"], "make": make,
        }
    finally:
        for c in clients.values():
            c.close()
        admin.close()


def raw(world: dict[str, Any], role: str, method: str, path: str, body: Any = None) -> httpx.Response:
    p = world["fleet"].profile
    auth = None
    if role != "anonymous":
        k = world["keys"][role]
        auth = StarlingAuth(k["key_id"], k["secret"].encode())
    with httpx.Client(base_url=p["api"], verify=client_context(p["ca_file"]), auth=auth, timeout=30) as http:
        return http.request(method, path, json=body)


# Each row: route handler -> (how to call it, expected status per role in ROLES order).
# "2xx" is any success; a number is that status exactly.
Call = Callable[[dict[str, Any], str], httpx.Response]
OK = "2xx"


def _get(path: str) -> Call:
    return lambda w, role: raw(w, role, "GET", path.format(**w))


def _post(path: str, body: Any = None) -> Call:
    return lambda w, role: raw(w, role, "POST", path.format(**w), body)


def _fresh_account(verb: str, method: str = "POST") -> Call:
    """Act on a throwaway account made for this call."""
    def call(w: dict[str, Any], role: str) -> httpx.Response:
        target = w["make"]("throwaway")["key_id"]
        suffix = "" if verb == "" else f"/{verb}"
        body = {"commands": ["uptime"]} if verb == "mapping" else None
        return raw(w, role, method, f"/v1/accounts/{target}{suffix}", body)
    return call


def _revoke_then_restore(kind: str) -> Call:
    def call(w: dict[str, Any], role: str) -> httpx.Response:
        r = raw(w, role, "POST", f"/v1/hosts/{w['host']}/{kind}")
        if kind == "revoke" and r.status_code == 200:
            raw(w, "admin", "POST", f"/v1/hosts/{w['host']}/restore")
        return r
    return call


def _running_admin_job(w: dict[str, Any], role: str) -> httpx.Response:
    job = w["admin"].submit("exec.run", {"cmd": "sleep 20"}, all=True)["job_id"]
    try:
        return raw(w, role, "POST", f"/v1/jobs/{job}/cancel")
    finally:
        if w["admin"].job(job, results=False)["state"] == "running":
            w["admin"].cancel(job)


def _rollout_admin_job(verb: str) -> Call:
    """A running admin job with rollout controls, paused (for ``resume``) or not."""
    def call(w: dict[str, Any], role: str) -> httpx.Response:
        job = w["admin"].submit("exec.run", {"cmd": "sleep 20"}, all=True, rollout={"canary": 1})["job_id"]
        try:
            if verb == "resume":
                w["admin"].pause(job)
            return raw(w, role, "POST", f"/v1/jobs/{job}/{verb}")
        finally:
            w["admin"].cancel(job)
    return call


def _held_operator_job(verb: str) -> Call:
    def call(w: dict[str, Any], role: str) -> httpx.Response:
        job = w["clients"]["operator"].submit("exec.run", {"cmd": "true"}, all=True)
        assert job["state"] == "pending_approval"
        try:
            return raw(w, role, "POST", f"/v1/jobs/{job['job_id']}/{verb}")
        finally:
            if w["admin"].job(job["job_id"], results=False)["state"] == "pending_approval":
                w["clients"]["operator"].cancel(job["job_id"])
    return call


def _put_chunk(w: dict[str, Any], role: str) -> httpx.Response:
    p = w["fleet"].profile
    k = w["keys"].get(role)
    auth = StarlingAuth(k["key_id"], k["secret"].encode()) if k else None
    data = b"a chunk of the authz walk"
    with httpx.Client(base_url=p["api"], verify=client_context(p["ca_file"]), auth=auth, timeout=30) as http:
        return http.put(f"/v1/files/chunks/{hashlib.sha256(data).hexdigest()}", content=data)


def _wait_online(w: dict[str, Any], timeout: float = 60) -> None:
    """Until the walk's host is connected again (or the timeout passes)."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = raw(w, "admin", "GET", f"/v1/hosts?host={w['host']}&online=true")
        if r.status_code == 200 and r.json().get("hosts"):
            return
        time.sleep(0.5)


def _terminal_ws(w: dict[str, Any], role: str) -> httpx.Response:
    """Open the terminal's WebSocket with the role's console session (none when its login
    fails) and map the outcome to a status: ready -> 200, close 4401/4403 -> 401/403."""
    import trio

    from center._termclient import console_cookie, open_terminal

    p = w["fleet"].profile
    _wait_online(w)  # an earlier row revokes and restores this host: its agent re-enrolls
    k = w["keys"].get(role)
    cookie = ""
    if k is not None:
        try:
            cookie = console_cookie(p["api"], k["key_id"], k["secret"], p["ca_file"])
        except httpx.HTTPStatusError:
            cookie = ""

    async def attempt() -> httpx.Response:
        async with open_terminal(p["api"], w["host"], ca_file=p["ca_file"], cookie=cookie) as term:
            if term.ready:
                await term.close()
                await term.drain()
                return httpx.Response(200, json=term.ready)
            await term.drain()
        assert term.final is not None and term.close_code is not None, term.frames
        return httpx.Response(term.close_code - 4000, json={"error": term.final})

    return trio.run(attempt)


_DIGEST = hashlib.sha256(b"never stored").hexdigest()
# A dry run needs no uploaded chunks, so it reaches the policy: only the admin may install files.
_PUSH = {"all": True, "dest": "/tmp/authz-walk/", "dry_run": True,
         "files": [{"path": "f", "size": 1, "sha256": _DIGEST, "chunks": [_DIGEST]}]}
_JOB = {"action": "sys.uptime", "all": True}
_REG = {"token": "wrong", "identity": {"sn": "x"}}

#                       anonymous disabled bare operator approver admin
MATRIX: dict[str, tuple[Call, tuple[Any, ...]]] = {
    "health": (_get("/v1/health"), (OK, OK, OK, OK, OK, OK)),
    "openapi": (_get("/openapi.json"), (OK, OK, OK, OK, OK, OK)),
    "codes": (_get("/v1/codes"), (OK, OK, OK, OK, OK, OK)),
    "register": (_post("/v1/agents/register", _REG), (403, 403, 403, 403, 403, 403)),
    "actions": (_get("/v1/actions"), (401, 401, OK, OK, OK, OK)),
    "hosts": (_get("/v1/hosts"), (401, 401, OK, OK, OK, OK)),
    "revoke_host": (_revoke_then_restore("revoke"), (401, 401, 403, 403, 403, OK)),
    "restore_host": (_revoke_then_restore("restore"), (401, 401, 403, 403, 403, OK)),
    "proxies": (_get("/v1/proxies"), (401, 401, 403, 403, 403, OK)),
    # An unknown proxy: the admin reaches the handler (404), nobody else gets that far.
    "revoke_proxy": (_post("/v1/proxies/no-such/revoke"), (401, 401, 403, 403, 403, 404)),
    "restore_proxy": (_post("/v1/proxies/no-such/restore"), (401, 401, 403, 403, 403, 404)),
    # The operator's jobs on more than one host wait for approval (approval_hosts=1).
    "submit": (_post("/v1/jobs", _JOB), (401, 401, 403, 202, 201, 201)),
    "jobs": (_get("/v1/jobs"), (401, 401, OK, OK, OK, OK)),
    "job": (_get("/v1/jobs/{admin_job}"), (401, 401, 404, 404, 404, OK)),
    "wait": (_get("/v1/jobs/{admin_job}/wait?timeout=0"), (401, 401, 404, 404, 404, OK)),
    "events": (_get("/v1/jobs/{admin_job}/events"), (401, 401, 404, 404, 404, OK)),
    "output": (_get("/v1/jobs/{admin_job}/output"), (401, 401, 404, 404, 404, OK)),
    # The operator may run `exec.run` on every host, so it may cancel such a job too.
    "cancel": (_running_admin_job, (401, 401, 404, OK, 404, OK)),
    # Pausing or resuming a rollout is cancel's guard: who may cancel a job may hold it.
    "pause": (_rollout_admin_job("pause"), (401, 401, 404, OK, 404, OK)),
    "resume": (_rollout_admin_job("resume"), (401, 401, 404, OK, 404, OK)),
    "approve": (_held_operator_job("approve"), (401, 401, 403, 403, OK, 403)),
    "reject": (_held_operator_job("reject"), (401, 401, 403, 403, OK, OK)),
    "create_account": (_post("/v1/accounts", {"name": "made"}), (401, 401, 403, 403, 403, 201)),
    "accounts": (_get("/v1/accounts"), (401, 401, 403, 403, 403, OK)),
    "delete_account": (_fresh_account("", "DELETE"), (401, 401, 403, 403, 403, OK)),
    "disable_account": (_fresh_account("disable"), (401, 401, 403, 403, 403, OK)),
    "enable_account": (_fresh_account("enable"), (401, 401, 403, 403, 403, OK)),
    "rotate_account": (_fresh_account("rotate"), (401, 401, 403, 403, 403, OK)),
    "mapping": (_fresh_account("mapping"), (401, 401, 403, 403, 403, OK)),
    "audit": (_get("/v1/audit"), (401, 401, 403, 403, 403, OK)),
    "audit_verify": (_get("/v1/audit/verify"), (401, 401, 403, 403, 403, OK)),
    # A dry run shows only hosts in the caller's scope (none for the bare account, still a 200).
    "targets": (_post("/v1/targets", _JOB), (401, 401, OK, OK, OK, OK)),
    # The bare account's scope holds no host: it is not there for it.
    "host_diag": (_get("/v1/hosts/{host}/diag?live=0"), (401, 401, 404, OK, OK, OK)),
    "forget_host": (lambda w, role: raw(w, role, "DELETE", "/v1/hosts/no-such-host"), (401, 401, 403, 403, 403, 404)),
    "cmdb": (_get("/v1/cmdb"), (401, 401, 403, 403, 403, OK)),
    "cmdb_import": (_post("/v1/cmdb/import", {"records": [], "replace": False}), (401, 401, 403, 403, 403, OK)),
    "cmdb_check": (_get("/v1/cmdb/check"), (401, 401, 403, 403, 403, OK)),
    "cmdb_sync": (_post("/v1/cmdb/sync"), (401, 401, 403, 403, 403, OK)),
    # Chat tools sign with their own secret, not an account key: unsigned (or unconfigured) is refused for all.
    "chat": (_post("/v1/chat/slack", {"type": "event_callback"}), (401, 401, 401, 401, 401, 401)),
    # The file channel: chunks are content-addressed (any account may upload or
    # read one by hash); installing or collecting is a job and needs the scope.
    "files_missing": (_post("/v1/files/missing", {"hashes": [_DIGEST]}), (401, 401, OK, OK, OK, OK)),
    "files_put": (_put_chunk, (401, 401, OK, OK, OK, OK)),
    "files_get": (_get(f"/v1/files/chunks/{_DIGEST}"), (401, 401, 404, 404, 404, 404)),
    "files_push": (_post("/v1/files/push", _PUSH), (401, 401, 403, 403, 403, 201)),
    "files_collect": (_post("/v1/files/collect", {"all": True, "path": "/etc/hostname"}), (401, 401, 403, 403, 403, 201)),
    # The web console: files are public; a login or link that is wrong is 401 whoever signs the request.
    "console_page": (_get("/ui/"), (OK, OK, OK, OK, OK, OK)),
    "console_static": (_get("/ui/static/console.js"), (OK, OK, OK, OK, OK, OK)),
    "console_embed": (_get("/ui/embed.js"), (OK, OK, OK, OK, OK, OK)),
    "console_login": (_post("/ui/login", {"key_id": "nobody", "secret": "wrong"}), (401, 401, 401, 401, 401, 401)),
    "console_link": (_get("/ui/link?token=not-a-token"), (401, 401, 401, 401, 401, 401)),
    "console_session": (_get("/ui/session"), (401, 401, OK, OK, OK, OK)),
    "console_logout": (_post("/ui/logout"), (401, 401, OK, OK, OK, OK)),
    "console_token": (_post("/ui/tokens"), (401, 401, OK, OK, OK, OK)),
    # The web terminal: a real WebSocket per role (its console session); only exec.pty in scope opens one.
    "terminal_ws": (_terminal_ws, (401, 401, 403, 403, 403, OK)),
    # A token for a host: the bare account does not see the host, the others lack exec.pty.
    "terminal_token": (lambda w, role: raw(w, role, "POST", "/api/v1/terminal/tokens", {"host": w["host"]}), (401, 401, 404, 403, 403, 201)),
}

# In scope: the operator reads and cancels its own job.
IN_SCOPE: dict[str, tuple[Call, Any]] = {
    "job": (_get("/v1/jobs/{op_job}"), OK),
    "wait": (_get("/v1/jobs/{op_job}/wait?timeout=0"), OK),
    "events": (_get("/v1/jobs/{op_job}/events"), OK),
    "output": (_get("/v1/jobs/{op_job}/output"), OK),
}


def test_every_route_is_in_the_matrix():
    assert {r.handler for r in ROUTES} == set(MATRIX)


def _check(resp: httpx.Response, want: Any, label: str) -> None:
    if want == OK:
        assert 200 <= resp.status_code < 300, f"{label}: {resp.status_code} {resp.text[:200]}"
    else:
        assert resp.status_code == want, f"{label}: want {want}, got {resp.status_code} {resp.text[:200]}"
    if resp.status_code >= 400:
        assert resp.json()["error"]["code"], label


@pytest.mark.parametrize("route", sorted(MATRIX))
def test_route_by_role(world, route):
    call, expected = MATRIX[route]
    for role, want in zip(ROLES, expected, strict=True):
        _check(call(world, role), want, f"{route} as {role}")


@pytest.mark.parametrize("route", sorted(IN_SCOPE))
def test_in_scope(world, route):
    call, want = IN_SCOPE[route]
    _check(call(world, "operator"), want, f"{route} as operator on its own job")


def test_listings_are_filtered(world):
    bare = world["clients"]["bare"]
    assert bare.hosts() == [] and bare.jobs() == []
    op = world["clients"]["operator"]
    assert {j["job_id"] for j in op.jobs()} >= {world["op_job"]} and world["admin_job"] not in {j["job_id"] for j in op.jobs()}
    assert len(op.hosts()) == 2
