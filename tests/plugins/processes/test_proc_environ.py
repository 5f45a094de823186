"""proc.environ of a real child with a known environment, of the agent, and of a new command:
secrets never come back, whatever the source."""

from __future__ import annotations

import os

import pytest

from agent_core import is_secret_name, redact_value
from agent_core.testing import run_action, spawned
from plugins.processes.environ import parse_environ

DSN = "postgres://u:pw@127.0.0.1/db"


@pytest.fixture
def child(tmp_path):
    env = {
        "PATH": f"/usr/bin:/bin:{tmp_path}/nope",
        "APP_MODE": "blue",
        "DB_PASSWORD": "hunter2",
        "AWS_SECRET_ACCESS_KEY": "abc",
        "EMPTY_TOKEN": "",
        "APP_DATABASE": DSN,
        "https_proxy": "http://user:s3cret@127.0.0.1:3128",
    }
    proc = spawned(["sleep", "49"], env=env, cwd=tmp_path, umask=0o027)
    yield proc
    proc.kill()
    proc.wait()


async def test_process_environment_is_masked(child, tmp_path):
    out = await run_action("proc.environ", {"pid": child.pid})
    assert out.ok, out.message
    v = out.value
    assert (v["source"], v["pid"], v["process"], v["count"]) == ("process", child.pid, "sleep", 7)
    assert v["variables"]["APP_MODE"] == "blue"
    assert v["variables"]["DB_PASSWORD"] == "***" and v["variables"]["AWS_SECRET_ACCESS_KEY"] == "***"
    assert v["variables"]["APP_DATABASE"] == "postgres://u:***@127.0.0.1/db"
    assert v["variables"]["EMPTY_TOKEN"] == ""  # nothing to hide
    assert v["masked"] == ["APP_DATABASE", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "https_proxy"]
    assert v["proxies"] == {"https_proxy": "http://user:***@127.0.0.1:3128"}
    assert v["path"][-1] == {"dir": f"{tmp_path}/nope", "exists": False} and v["path"][0]["exists"]
    assert (v["uid"], v["umask"], v["cwd"]) == (os.geteuid(), "0027", str(tmp_path))
    for secret in ("hunter2", ":pw@", "s3cret", "'abc'"):
        assert secret not in repr(v)


async def test_filters(child):
    out = await run_action("proc.environ", {"pid": child.pid, "names": ["APP_MODE", "NOT_SET"]})
    assert out.value["variables"] == {"APP_MODE": "blue"} and out.value["count"] == 7
    out = await run_action("proc.environ", {"pid": child.pid, "prefix": "APP_"})
    assert out.value["variables"] == {"APP_DATABASE": "postgres://u:***@127.0.0.1/db", "APP_MODE": "blue"}
    assert out.value["masked"] == ["APP_DATABASE"]


async def test_agent_environment(monkeypatch):
    monkeypatch.setenv("STARLING_T_DB_URL", DSN)
    monkeypatch.setenv("STARLING_T_API_TOKEN", "abc123")
    old = os.umask(0o027)
    try:
        out = await run_action("proc.environ", {"prefix": "STARLING_T_"})
    finally:
        os.umask(old)
    assert out.ok, out.message
    v = out.value
    assert v["variables"] == {"STARLING_T_API_TOKEN": "***", "STARLING_T_DB_URL": "postgres://u:***@127.0.0.1/db"}
    assert (v["source"], v["pid"], v["uid"], v["cwd"], v["umask"]) == ("agent", os.getpid(), os.geteuid(), os.getcwd(), "0027")
    assert "abc123" not in repr(v) and ":pw@" not in repr(v)


async def test_new_command_environment(monkeypatch):
    """A real child started by the agent's runner reports what it received; secrets masked."""
    monkeypatch.setenv("STARLING_T_DB_URL", DSN)
    monkeypatch.setenv("STARLING_T_SECRET", "zz-top")
    out = await run_action("proc.environ", {"command": True, "prefix": "STARLING_T_"})
    assert out.ok, out.message
    v = out.value
    assert v["source"] == "command" and v["pid"] != os.getpid()
    # The probe that ran is named, not the interpreter under it (its comm, read back from the kernel).
    assert v["process"] == "starling-probe" and "python" not in v["process"]
    assert v["variables"] == {"STARLING_T_DB_URL": "postgres://u:***@127.0.0.1/db", "STARLING_T_SECRET": "***"}
    assert "zz-top" not in repr(v) and ":pw@" not in repr(v) and v["uid"] == os.geteuid()


def test_parse_environ():
    assert parse_environ(b"A=1\0B=x=y\0junk\0\0") == {"A": "1", "B": "x=y"}


def test_secret_rules():
    assert is_secret_name("MYSQL_PWD") is False  # not a pattern we claim; documents the limit
    assert is_secret_name("api_key") and is_secret_name("SSH_KEY") and is_secret_name("SESSION_ID")
    assert not is_secret_name("KEYBOARD") and not is_secret_name("MONKEY")
    assert redact_value("https://u:p@host/x") == "https://u:***@host/x"
    assert redact_value("https://host/x?a=b") == "https://host/x?a=b"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"pid": 2**22 + 23}, "A017"),
        ({"pid": 0}, "A002"),
        ({"pid": "self"}, "A002"),
        ({"pid": 1, "reveal": True}, "A002"),
        ({"pid": 1, "command": True}, "A002"),
    ],
)
async def test_environ_errors(params, code):
    assert (await run_action("proc.environ", params)).code == code
