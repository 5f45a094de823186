"""The web terminal in a real browser: Debian's headless chromium driven by
playwright-core (tests/browser/terminal.mjs) against a real center, proxy and
agents, the console's terminal page and the embed example
(examples/embed-terminal) served from two other loopback origins, one allowed
and one not. Screenshots go to a temporary directory, or, with
``STARLING_UPDATE_SCREENSHOTS=1``, to docs/console/ (shown in docs/console.md).

Only harmless commands are typed; interception is shown with the marker rule
(tests/integration/data/marker-rules.toml blocks ``echo FORBIDDEN-MARKER``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from center import Client
from transports import free_port

from .conftest import Fleet, up_fleet
from .test_console_browser import CHROMIUM, MODULES, ROOT, SHOTS, _why_not

pytestmark = pytest.mark.integration

AGENTS = 2
MARKER_RULES = ROOT / "tests" / "integration" / "data" / "marker-rules.toml"
PORTAL = ROOT / "examples" / "embed-terminal" / "portal.py"


@pytest.fixture(scope="module")
def origins() -> dict[str, str]:
    # Two origins other than the center's: 127.0.0.2 may embed, 127.0.0.3 may not.
    return {"allowed": f"http://127.0.0.2:{free_port('127.0.0.2')}", "stranger": f"http://127.0.0.3:{free_port('127.0.0.3')}"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, origins: dict[str, str]) -> Iterator[Fleet]:
    why = _why_not()
    if why:
        pytest.skip(why)
    env = {"STARLING_CENTER_RISK_RULES": str(MARKER_RULES),
           "STARLING_CENTER_CONSOLE": json.dumps({"allowed_origins": [origins["allowed"]]})}
    with up_fleet(tmp_path_factory.mktemp("starling"), AGENTS, env) as f:
        yield f


def _portal(fleet: Fleet, origin: str) -> subprocess.Popen[str]:
    p = fleet.profile
    env = {**os.environ, "STARLING_API": p["api"], "STARLING_KEY_ID": p["key_id"], "STARLING_SECRET": p["secret"],
           "STARLING_CA": p["ca_file"], "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(PORTAL), "--listen", origin.removeprefix("http://")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == origin + "/"
    return proc


@pytest.fixture(scope="module")
def steps(fleet: Fleet, origins: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    p = fleet.profile
    victim = p["agents"][-1]
    shots = SHOTS if os.environ.get("STARLING_UPDATE_SCREENSHOTS") == "1" else tmp_path_factory.mktemp("shots")
    shots.mkdir(exist_ok=True)
    # An account that may open terminals on the first host only: HOST (the last) is outside its scope.
    admin = Client(p["api"], p["key_id"], p["secret"], p["ca_file"])
    scoped = admin.request("POST", "/v1/accounts", json_body={
        "name": "one-host", "scopes": {"actions": ["exec.pty"], "hosts": [p["agents"][0]["hostname"]]}})
    # A real token for the host, expired long before the page uses it.
    expired = admin.request("POST", "/api/v1/terminal/tokens", json_body={"host": victim["hostname"], "ttl": 1})
    admin.close()
    portals = [_portal(fleet, origins["allowed"]), _portal(fleet, origins["stranger"])]
    try:
        env = {
            **os.environ, "STARLING_API": p["api"], "STARLING_KEY_ID": p["key_id"], "STARLING_SECRET": p["secret"],
            "HOST": victim["hostname"], "VICTIM_PID": str(victim["pid"]), "PORTAL": origins["allowed"] + "/",
            "STRANGER": origins["stranger"] + "/", "SCOPED_KEY_ID": scoped["key_id"], "SCOPED_SECRET": scoped["secret"], "EXPIRED_TOKEN": expired["token"], "SHOTS": str(shots), "CONSOLE_MODULES": str(MODULES), "CHROMIUM": CHROMIUM,
        }
        proc = subprocess.run(["node", str(ROOT / "tests" / "browser" / "terminal.mjs")], env=env, capture_output=True, text=True,
                              timeout=600, check=False)
    finally:
        for portal in portals:  # our own children, by their handles
            portal.terminate()
            portal.wait(10)
    docs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    failed = [d for d in docs if "error" in d]
    assert not failed and proc.returncode == 0, f"browser step failed: {failed or proc.stderr[-2000:]}"
    assert docs and docs[-1] == {"done": True}
    yield {d["step"]: d for d in docs if "step" in d}


def test_console_terminal_types_and_reads_the_screen(steps):
    assert "session" in steps["console-login"]["status"]
    assert "typed-42" in steps["console-type"]["screen"]


def test_the_terminal_follows_its_element_size(steps):
    s = steps["console-type"]
    rows, cols = map(int, s["size"].split("x"))
    assert cols < s["wide"] and rows > 0  # and the shell's `stty size` said the same (waited for in the page)


def test_a_line_refused_by_interception_is_shown_with_rule_and_code(steps):
    s = steps["console-refused"]
    r = s["refusal"]
    assert r["rule"] == "test.forbidden-marker" and r["code"] and "FORBIDDEN-MARKER" in r["line"]
    assert f"refused: {r['line']}" in s["screen"] and r["code"] in s["screen"] and "test.forbidden-marker" in s["screen"]
    assert "still-5" in s["screen"]  # the session went on, the marker never ran
    assert "\nFORBIDDEN-MARKER" not in s["screen"]


def test_ctrl_c_binary_output_and_a_huge_paste(steps):
    assert "after-9" in steps["console-ctrl-c"]["screen"]
    assert "alive-16" in steps["console-binary"]["screen"] and "bin:" in steps["console-binary"]["screen"]
    paste = steps["console-paste"]
    shown = [r["code"] for r in paste["refusals"]]
    assert shown or paste["state"] != "open"
    assert any(code in paste["screen"] for code in [*shown, "A024"])


def test_exit_then_reconnect(steps):
    s = steps["console-exit"]
    assert "[session ended: exit status 0" in s["screen"] and s["reconnect"]
    assert "again-25" in steps["console-reconnect"]["screen"]


def test_embedded_from_another_origin(steps, origins):
    s = steps["embed"]
    assert "embedded-42" in s["screen"]
    iso = s["isolation"]
    assert iso["origin"] == origins["allowed"] and iso["center"].startswith("https://127.0.0.1:")
    assert iso["shadow"] and iso["xtermInPage"] == 0 and iso["globals"] == []
    assert iso["statusColor"] != iso["portalColor"]  # the portal's `div {color: … !important}` stays outside


def test_bad_token_and_unknown_host_are_shown_with_their_codes(steps):
    assert "C036" in steps["embed-bad-token"]["screen"] and "4401" in steps["embed-bad-token"]["status"]
    s = steps["embed-expired-token"]
    assert "C036" in s["screen"] and "expired" in s["screen"] and "4401" in s["status"], s
    assert "4404" in steps["embed-unknown-host"]["screen"] or "C002" in steps["embed-unknown-host"]["screen"]


def test_origin_not_allowed_is_refused(steps, origins):
    s = steps["stranger"]
    assert s["origin"] == origins["stranger"]
    assert "C037" in s["screen"] and "embedded" not in s["screen"]


def test_the_terminal_works_under_the_pages_own_csp(steps):
    s = steps["csp"]
    assert "script-src 'self'" in s["csp"] and s["blocked"] == []


def test_host_outside_the_scope_is_refused_with_its_code(steps, fleet):
    s = steps["scope"]
    assert s["offered"] == [fleet.profile["agents"][0]["hostname"]]  # the page offers what the scope allows
    assert "C009" in s["screen"] and "4403" in s["status"]


def test_agent_dying_mid_session_is_shown(steps):
    s = steps["agent-dies"]
    assert "before-death" in s["screen"] and "✖" in s["screen"]
    # The proxy closes the stream when the agent's connection drops (P002), or the link is lost (P007).
    assert any(code in s["screen"] for code in ("P002", "P007", "E001")), s["screen"]
    assert "closed:" in s["status"]
