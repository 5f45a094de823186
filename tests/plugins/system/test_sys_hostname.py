"""sys.hostname: read the real names; set one for real inside a private UTS namespace."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agent_core.testing import run_action
from plugins.system.hostname import hosts_entries

ROOT = Path(__file__).resolve().parents[3]

# Runs sys.hostname.set in a child that has its own UTS namespace, so the real
# sethostname(2) happens without touching this host's name.
SET_IN_NAMESPACE = """
import json, socket, sys, trio
import plugins.system.hostname as mod
from agent_core.testing import run_action
mod.HOSTNAME_FILE = sys.argv[2]
out = trio.run(run_action, "sys.hostname.set", json.loads(sys.argv[1]))
print(json.dumps({"state": out.state, "code": out.code, "value": out.value, "now": socket.gethostname()}))
"""


def _static_name() -> str:
    path = Path("/etc/hostname")
    return path.read_text().strip() if path.exists() else ""



def _set_in_namespace(params: dict, hostname_file: Path) -> dict:
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) not installed")
    if os.geteuid() != 0:
        pytest.skip("unshare --uts needs root")
    proc = subprocess.run(
        ["unshare", "--uts", sys.executable, "-c", SET_IN_NAMESPACE, json.dumps(params), str(hostname_file)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


async def test_get_matches_kernel_and_files():
    out = await run_action("sys.hostname.get")
    assert out.ok, out.message
    v = out.value
    assert v["hostname"] == socket.gethostname()
    static = _static_name()
    assert v["static"] == static
    assert v["matches_static"] == (not static or static == v["hostname"])
    assert [e["line"] for e in v["hosts_entries"]] == [e.line for e in hosts_entries(v["hostname"])]


def test_hosts_entries_parsing(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n# 10.0.0.9 web1\n10.0.0.5 web1.example.com web1  # primary\n::1 ip6-localhost\n")
    found = hosts_entries("web1", str(hosts))
    assert [(e.address, e.names, e.line) for e in found] == [("10.0.0.5", ["web1.example.com", "web1"], 3)]


async def test_set_dry_run_changes_nothing():
    before = socket.gethostname()
    out = await run_action("sys.hostname.set", {"name": "starling-dry-run-test", "dry_run": True})
    assert out.ok, out.message
    assert out.value["dry_run"] and out.value["changed"] and out.value["old"] == before
    assert any("sethostname" in step for step in out.value["steps"])
    assert socket.gethostname() == before


async def test_set_for_real_in_uts_namespace(tmp_path):
    before = socket.gethostname()
    hostname_file = tmp_path / "hostname"
    hostname_file.write_text("old-name\n")
    res = _set_in_namespace({"name": "starling-ns-test.example"}, hostname_file)
    assert res["state"] == "succeeded", res
    assert res["now"] == "starling-ns-test.example"
    assert res["value"]["persisted"] is True
    assert hostname_file.read_text() == "starling-ns-test.example\n"
    assert socket.gethostname() == before  # the namespace kept it from us

    hostname_file.write_text("kept\n")
    res = _set_in_namespace({"name": "transient", "persist": False}, hostname_file)
    assert res["now"] == "transient" and hostname_file.read_text() == "kept\n"


@pytest.mark.parametrize(
    "params",
    [
        {"name": ""},
        {"name": "-leading-dash"},
        {"name": "under_score"},
        {"name": "a" * 64},
        {"name": "x..y"},
        {"name": "ok", "bogus": 1},
        {"name": 5},
    ],
)
async def test_set_rejects_bad_names(params):
    out = await run_action("sys.hostname.set", {**params, "dry_run": True})
    assert out.code == "A002", out.message
