"""The HTTP API answers the same JSON, byte for byte, since the store returns row
records instead of dicts (issue 15 §3): hosts, proxies, jobs and tasks, listed and
in detail, on each store backend.

A fixed fleet (hosts online, stale, never seen and revoked; proxies; finished and
running jobs; a task whose host was forgotten) is written with plain INSERTs, the
clock is frozen, and each response is compared with the golden body in
``tests/center/data/api_views/`` (one per backend: the order of a job's ``counts``
follows the database's GROUP BY). The goldens were written by the code from before
the records (main at 4157fdb), this file copied into a checkout of it::

    git archive 4157fdb | tar -x -C /tmp/base && cp tests/center/test_api_views.py /tmp/base/tests/center/
    cd /tmp/base && STARLING_WRITE_API_GOLDEN=1 python -m pytest tests/center/test_api_views.py

so a record that renames, drops, reorders or retypes a field fails here.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import trio
from cryptography.hazmat.primitives.asymmetric import ed25519

import center
from center._accounts import Scope, SecretBox, create_account, ensure_admin
from center._api import build_app
from center._audit import AuditTrail
from center._center import Center
from center._policy import Policy
from center._records import cmdb_hosts, task_diagnoses
from center._store import AsyncStore, Store, agents, jobs, proxies, tasks

GOLDEN = Path(__file__).parent / "data" / "api_views"
WRITE = bool(os.environ.get("STARLING_WRITE_API_GOLDEN"))
NOW = 1_790_000_000.0
KEY = "A" * 43 + "="  # a well-formed base64 Ed25519 public key (never shown by the API)

HOSTS = [
    dict(id="h01", sn="SN1", hostname="web-1", ip="10.0.0.1", os="debian 12", idc="bj1", tags='["db", "web"]', version="1.2.0",
         proxy_id="p1", carrier="tcp", online=True, code="", last_seen=NOW - 5, registered=NOW - 900, revoked=False, public_key=KEY,
         catalogue="", health=json.dumps({"cpus": 4, "load1": 0.5, "disks": [{"mount": "/", "total": 1000, "used": 999}], "clock": NOW - 4.5})),
    dict(id="h02", sn="SN2", hostname="web-2", ip="10.0.0.2", os="debian 12", idc="bj1", tags='["web"]', version="1.1.0",
         proxy_id="p1", carrier="quic", online=False, code="E005", last_seen=NOW - 300, registered=NOW - 900, revoked=False, public_key=KEY,
         catalogue="", health="{}"),
    dict(id="h03", sn="SN3", hostname="db-1", ip="10.0.1.1", os="rocky 9", idc="sh2", tags="[]", version="",
         proxy_id=None, carrier="", online=False, code="", last_seen=0.0, registered=NOW - 60, revoked=False, public_key="",
         catalogue="", health="{}"),
    dict(id="h04", sn="SN4", hostname="old-1", ip="10.0.1.2", os="centos 7", idc="sh2", tags='["legacy"]', version="0.9.1",
         proxy_id="p2", carrier="tcp", online=False, code="E001", last_seen=NOW - 86400 * 3, registered=NOW - 86400 * 30, revoked=True,
         public_key=KEY, catalogue="", health=json.dumps({"mem_total": 1 << 30, "mem_available": 1 << 20})),
]
PROXIES = [
    dict(id="p1", idc="bj1", urls='["tcp://127.0.0.1:7001", "quic://127.0.0.1:7001"]', connections=2, capacity=1000, load1=0.25,
         cpus=2, rss=50_000_000, online=True, last_seen=NOW - 1, revoked=False),
    dict(id="p2", idc="sh2", urls="[]", connections=0, capacity=0, load1=0.0, cpus=1, rss=0, online=False, last_seen=NOW - 500, revoked=False),
]
JOBS = [
    dict(id="j1", account="kadmin", action="exec.run", params='{"cmd": "uptime"}', params_raw=b"\x81\xa3cmd\xa6uptime",
         targets='{"hosts": [], "tags": ["web"], "idc": "", "all": false}', created=NOW - 120, timeout=60.0, deadline=NOW - 30,
         total=3, state="done", offline="fail", stream=False, finished=NOW - 50),
    dict(id="j2", account="kother", action="disk.usage", params="{}", params_raw=b"\x80", targets='{"hosts": ["h01"], "tags": [], "idc": "", "all": false}',
         created=NOW - 10, timeout=30.0, deadline=NOW + 60, total=1, state="running", offline="wait", stream=True, finished=None),
]
_TASK = dict(code="", message="", exit_code=None, stdout="", stderr="", data=None, truncated=False, proxy_id=None, attempts=0,
             dispatched=None, delivered=None, received=None, running=None, finished=None)
TASKS = [
    _TASK | dict(id="j1-0", job_id="j1", agent_id="h01", state="succeeded", exit_code=0, stdout=" 10:00 up 3 days\n", data='{"took": 0.01, "lines": [1, 2]}',
                 proxy_id="p1", attempts=1, deadline=NOW - 30, created=NOW - 120, dispatched=NOW - 119.5, delivered=NOW - 119.4,
                 received=NOW - 119.3, running=NOW - 119.2, finished=NOW - 119.0),
    _TASK | dict(id="j1-1", job_id="j1", agent_id="h02", state="failed", code="E005", message="host unreachable or hung", deadline=NOW - 30,
                 created=NOW - 120, finished=NOW - 29),
    _TASK | dict(id="j1-2", job_id="j1", agent_id="h99", state="failed", code="A002", message="boom", exit_code=2, stderr="oops\n",
                 truncated=True, proxy_id="p1", attempts=2, deadline=NOW - 30, created=NOW - 120, dispatched=NOW - 118, finished=NOW - 60),
    _TASK | dict(id="j2-0", job_id="j2", agent_id="h01", state="running", proxy_id="p1", attempts=1, deadline=NOW + 60, created=NOW - 10,
                 dispatched=NOW - 9, delivered=NOW - 8.5, received=NOW - 8.4, running=NOW - 8.3),
]
CMDB = [
    dict(sn="SN1", ip="10.0.0.1", hostname="web-1", owner="alice", idc="bj1", tags='["web", "pay"]', imported=NOW - 3600),
    dict(sn="", ip="10.0.9.9", hostname="ghost", owner="bob", idc="bj1", tags="[]", imported=NOW - 3600),
]
DIAGNOSIS = {"code": "E005", "summary": "host unreachable or hung", "healthy": False, "findings": [], "owner": "", "at": NOW - 29}

#: (account, path): what is compared. "admin" sees everything; "web" is scoped to the tag "web".
REQUESTS = [
    ("admin", "/v1/hosts"),
    ("admin", "/v1/hosts?limit=2"),
    ("admin", "/v1/hosts?tag=web&online=false"),
    ("admin", "/v1/hosts?health=unhealthy"),
    ("web", "/v1/hosts"),
    ("admin", "/v1/proxies"),
    ("admin", "/v1/jobs"),
    ("admin", "/v1/jobs?limit=1"),
    ("admin", "/v1/jobs?state=running"),
    ("admin", "/v1/jobs/j1"),
    ("admin", "/v1/jobs/j1?state=failed"),
    ("admin", "/v1/jobs/j1?offset=1&limit=1"),
    ("admin", "/v1/jobs/j1?results=false"),
    ("admin", "/v1/jobs/j2"),
    ("admin", "/v1/jobs/j1/wait"),
    ("admin", "/v1/jobs/j1/events?results=true"),
    ("admin", "/v1/hosts/web-1/diag"),
    ("admin", "/v1/hosts/h04/diag"),
    ("admin", "/v1/cmdb"),
    ("admin", "/v1/cmdb/check"),
    ("admin", "/v1/accounts"),
]


def _populate(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(agents.insert(), HOSTS)
        conn.execute(proxies.insert(), PROXIES)
        conn.execute(jobs.insert(), JOBS)
        conn.execute(tasks.insert(), TASKS)
        conn.execute(cmdb_hosts.insert(), CMDB)
        conn.execute(task_diagnoses.insert(), [{"task_id": "j1-1", "job_id": "j1", "doc": json.dumps(DIAGNOSIS)}])


def _responses(url: str, tmp_path: Path) -> dict[str, str]:
    store = Store(url)
    store.create_all()
    _populate(store)
    box = SecretBox.from_file(tmp_path / "accounts.key")
    ensure_admin(store, box, "kadmin", "s" * 32)
    web, _secret = create_account(store, box, "web", Scope(actions=["*"], tags=["web"]))
    keys = {"admin": "kadmin", "web": web}
    astore = AsyncStore(store)
    center_ = Center(astore, ed25519.Ed25519PrivateKey.generate(), proxy_token="t", policy=Policy(), enroll_token="e")

    async def authenticate(request):  # the account named by a test header: signing is not under test here
        return keys[request.headers["x-test-account"]]

    app = build_app(center_, AuditTrail(astore), authenticate=authenticate, secret_box=box)
    out = {}

    async def ask() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://center") as client:
            for who, path in REQUESTS:
                got = await client.get(path, headers={"x-test-account": who})
                assert got.status_code == 200, (who, path, got.text)
                out[f"{who} {path}"] = got.text.replace(web, "kweb")  # a fresh random key id each run

    trio.run(ask)
    store.engine.dispose()
    return out


def test_api_json_is_unchanged(db_url, tmp_path, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: NOW)  # diagnoses say how long ago a host was heard from
    backend = sa.make_url(db_url).get_backend_name()
    got = _responses(db_url, tmp_path)
    golden = GOLDEN / f"{backend}.json"
    if WRITE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps({"code": str(Path(center.__file__).parent), "responses": got}, indent=1, ensure_ascii=False) + "\n")
        pytest.skip(f"wrote {golden} from the code in {Path(center.__file__).parent}")
    want = json.loads(golden.read_text())["responses"]
    assert list(got) == list(want)
    for key, body in got.items():
        assert body == want[key], key
