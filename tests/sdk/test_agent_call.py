"""``starling-agent call ACTION key=value``: one action, run locally by the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent_core.host import parse_params
from transports import StarlingError

AGENT = Path(sys.executable).parent / "starling-agent"


def _call(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AGENT), "call", *args], capture_output=True, text=True, timeout=120)


def test_call_runs_an_action_and_prints_its_result(tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\nthree\n")
    proc = _call("file.head", f"path={tmp_path / 'a.txt'}", "lines=2")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["state"] == "succeeded" and doc["data"]["lines"] == ["one", "two"]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("file.head", "path=relative.txt"), "A002"),  # the action's own check
        (("file.head", "lines=0", "path=/etc/hostname"), "A002"),  # the params type's bound
        (("file.head", "nmae=x"), "A002"),  # unknown field
        (("no.such.action",), "A001"),
        (("file.head", "path=/nonexistent/starling"), "A017"),
    ],
)
def test_call_failures_carry_their_code(args, code):
    proc = _call(*args)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["code"] == code
    assert f"starling-agent call: {code}: " in proc.stderr and "Traceback" not in proc.stderr


def test_call_usage_errors_exit_2():
    proc = _call("file.head", "not-a-pair")
    assert proc.returncode == 2 and "A002" in proc.stderr and "Traceback" not in proc.stderr
    proc = _call("file.head", "--json-params", "[1]")
    assert proc.returncode == 2 and "JSON object" in proc.stderr


def test_parse_params():
    assert parse_params(["limit=5", "all=true", "path=/var/log", "names=[\"a\"]", "id:=007"]) == {
        "limit": 5, "all": True, "path": "/var/log", "names": ["a"], "id": "007",
    }  # fmt: skip
    assert parse_params(["x=1"], '{"x": 0, "y": 2}') == {"x": 1, "y": 2}
    with pytest.raises(StarlingError):
        parse_params(["=1"])
