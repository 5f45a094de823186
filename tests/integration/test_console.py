"""The web console's sessions against a real center: login with an account's
key id and secret or a one-time link, the cookie's flags, CSRF on every
state-changing call, scopes as in the API, logout. (Browser tests: test_console_browser.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from center import Client
from transports import client_context

from .conftest import Fleet

pytestmark = pytest.mark.integration

AGENTS = 2


@pytest.fixture(scope="module")
def admin(fleet: Fleet) -> Iterator[Client]:
    p = fleet.profile
    client = Client(p["api"], p["key_id"], p["secret"], p["ca_file"])
    yield client
    client.close()


def browser(fleet: Fleet) -> httpx.Client:
    """A cookie-keeping HTTP client, as a browser is (no request signing)."""
    p = fleet.profile
    return httpx.Client(base_url=p["api"], verify=client_context(p["ca_file"]), timeout=30)


def login(http: httpx.Client, key_id: str, secret: str) -> dict[str, Any]:
    r = http.post("/ui/login", json={"key_id": key_id, "secret": secret})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_page_is_served(fleet):
    with browser(fleet) as http:
        r = http.get("/ui/")
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert http.get("/ui/static/console.js").status_code == 200
        chart = http.get("/ui/static/chart.umd.js")  # from npm (center/console/node_modules)
        if chart.status_code == 404:
            assert "./dev install" in chart.json()["error"]["message"]
        else:
            assert chart.status_code == 200 and "text/javascript" in chart.headers["content-type"]
        assert http.get("/ui/static/package.json").status_code == 404  # only pages' files, by suffix
        missing = http.get("/ui/static/..%2Fpyproject.toml")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "C028"


def test_embed_files_are_readable_from_other_origins(fleet):
    """/ui/embed.js and the modules and styles it imports are public and carry CORS headers
    (a module script of another origin is fetched with CORS); the console's own files do not."""
    with browser(fleet) as http:
        embed = http.get("/ui/embed.js")
        assert embed.status_code == 200 and "text/javascript" in embed.headers["content-type"]
        assert "Starling" in embed.text and embed.headers["access-control-allow-origin"] == "*"
        for name in ("term.mjs", "term.css", "xterm.mjs", "xterm.css", "addon-fit.mjs"):
            r = http.get(f"/ui/static/{name}")
            if r.status_code == 404:  # xterm comes from npm: without ./dev install it says so
                assert "./dev install" in r.json()["error"]["message"], name
                continue
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*", name
            assert r.headers["content-type"].startswith("text/css" if name.endswith(".css") else "text/javascript"), name
        assert "access-control-allow-origin" not in http.get("/ui/static/console.js").headers


def test_login_sets_a_locked_down_cookie(fleet):
    p = fleet.profile
    with browser(fleet) as http:
        r = http.post("/ui/login", json={"key_id": p["key_id"], "secret": p["secret"]})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"].lower()
        for flag in ("__host-starling-session=", "secure", "httponly", "samesite=strict", "path=/"):
            assert flag in cookie
        assert r.json()["csrf"]


def test_wrong_secret_is_refused_with_a_code(fleet):
    p = fleet.profile
    with browser(fleet) as http:
        r = http.post("/ui/login", json={"key_id": p["key_id"], "secret": "not-it"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "C007"
        assert "set-cookie" not in r.headers
        bad = http.post("/ui/login", content=b"{nope")
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "C001"
        assert http.get("/v1/hosts").status_code == 401


def test_session_reads_and_needs_csrf_to_write(fleet):
    p = fleet.profile
    with browser(fleet) as http:
        csrf = login(http, p["key_id"], p["secret"])["csrf"]
        me = http.get("/ui/session").json()
        assert me["key_id"] == p["key_id"] and me["admin"] and me["csrf"] == csrf
        assert len(http.get("/v1/hosts").json()["hosts"]) == AGENTS
        job = {"action": "exec.run", "params": {"cmd": "echo console"}, "all": True}
        refused = http.post("/v1/jobs", json=job)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "C035"
        wrong = http.post("/v1/jobs", json=job, headers={"X-Starling-CSRF": "x" + csrf})
        assert wrong.status_code == 403
        ok = http.post("/v1/jobs", json=job, headers={"X-Starling-CSRF": csrf})
        assert ok.status_code == 201, ok.text
        done = http.get(f"/v1/jobs/{ok.json()['job_id']}/wait", params={"timeout": 30}).json()
        assert done["complete"] and done["counts"] == {"succeeded": AGENTS}


def test_scoped_account_sees_only_its_scope(fleet, admin):
    one = admin.hosts()[0]
    acct = admin.request("POST", "/v1/accounts", json_body={
        "name": "console-scoped", "scopes": {"actions": ["sys.*"], "hosts": [one["hostname"]]},
    })
    with browser(fleet) as http:
        csrf = login(http, acct["key_id"], acct["secret"])["csrf"]
        assert [h["id"] for h in http.get("/v1/hosts").json()["hosts"]] == [one["id"]]
        names = {a["name"] for a in http.get("/v1/actions").json()["actions"]}
        assert names and all(n.startswith("sys.") for n in names)
        r = http.post("/v1/jobs", json={"action": "exec.run", "params": {"cmd": "id"}, "hosts": [one["id"]]},
                      headers={"X-Starling-CSRF": csrf})
        assert r.status_code == 403 and r.json()["error"]["code"] == "C009"
        assert http.get("/v1/accounts").status_code == 403


def test_one_time_link_works_once(fleet, admin):
    path = admin.request("POST", "/ui/tokens")["path"]
    with browser(fleet) as http:
        r = http.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/ui/"
        assert http.get("/ui/session").status_code == 200
    with browser(fleet) as http:
        again = http.get(path)
        assert again.status_code == 401 and again.json()["error"]["code"] == "C007"


def test_logout_ends_the_session(fleet):
    p = fleet.profile
    with browser(fleet) as http:
        csrf = login(http, p["key_id"], p["secret"])["csrf"]
        sid = http.cookies.get("__Host-starling-session")
        assert http.post("/ui/logout", headers={"X-Starling-CSRF": csrf}).status_code == 200
    with browser(fleet) as http:
        http.cookies.set("__Host-starling-session", sid or "")
        r = http.get("/v1/hosts")
        assert r.status_code == 401 and r.json()["error"]["code"] == "C007"




def test_up_prints_the_console_url_and_a_working_link(fleet, admin, capsys):
    from center import _up

    p = fleet.profile
    _up._print_console(admin, p["api"])
    printed = capsys.readouterr().err
    assert f"web console: {p['api']}/ui/" in printed
    link = printed.split("): ", 1)[1].split()[0]
    assert link.startswith(f"{p['api']}/ui/link?token=")
    with browser(fleet) as http:
        r = http.get(link.removeprefix(p["api"]))
        assert r.status_code == 303
        assert http.get("/ui/session").json()["key_id"] == p["key_id"]
