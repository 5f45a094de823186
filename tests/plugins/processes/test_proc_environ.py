"""proc.environ of a child started with a known environment; secrets never come back."""

from __future__ import annotations

import subprocess

import pytest

from agent_core.testing import run_action
from plugins.processes.environ import parse_environ


@pytest.fixture
def child():
    env = {"PATH": "/usr/bin:/bin", "APP_MODE": "blue", "DB_PASSWORD": "hunter2", "AWS_SECRET_ACCESS_KEY": "abc", "EMPTY_TOKEN": ""}
    proc = subprocess.Popen(["sleep", "49"], env=env)
    yield proc
    proc.kill()
    proc.wait()


async def test_environment_with_masking(child):
    out = await run_action("proc.environ", {"pid": child.pid})
    assert out.ok, out.message
    v = out.value
    assert v["name"] == "sleep" and v["count"] == 5
    assert v["variables"]["APP_MODE"] == "blue" and v["variables"]["PATH"] == "/usr/bin:/bin"
    assert v["variables"]["DB_PASSWORD"] == "***" and v["variables"]["AWS_SECRET_ACCESS_KEY"] == "***"
    assert v["variables"]["EMPTY_TOKEN"] == ""  # nothing to hide
    assert v["masked"] == ["AWS_SECRET_ACCESS_KEY", "DB_PASSWORD"]
    assert "hunter2" not in repr(v)


async def test_names_filter(child):
    out = await run_action("proc.environ", {"pid": child.pid, "names": ["APP_MODE", "NOT_SET"]})
    assert out.value["variables"] == {"APP_MODE": "blue"} and out.value["count"] == 5


def test_parse_environ():
    assert parse_environ(b"A=1\0B=x=y\0junk\0\0") == {"A": "1", "B": "x=y"}


@pytest.mark.parametrize(("params", "code"), [({"pid": 2**22 + 23}, "A017"), ({"pid": 0}, "A002"), ({"pid": 1, "reveal": True}, "A002")])
async def test_environ_errors(params, code):
    assert (await run_action("proc.environ", params)).code == code
