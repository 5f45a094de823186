"""exec.env: the agent's and another process's environment, with secrets masked."""

from __future__ import annotations

import os
import subprocess

import pytest

from agent_core import is_secret_name, redact_value
from agent_core.testing import run_action

ENV = {
    "PATH": "/usr/bin:/bin",
    "DB_PASSWORD": "hunter2",
    "GITHUB_TOKEN": "ghp_abc",
    "AWS_SECRET_ACCESS_KEY": "wJalr",
    "DATABASE_URL": "postgres://app:s3cret@db:5432/app",
    "GIT_AUTHOR_NAME": "Ops",
    "STL_PLAIN": "visible",
}


@pytest.fixture
def sleeper():
    proc = subprocess.Popen(["sleep", "30"], env=ENV)
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


async def test_env_of_a_real_process(sleeper):
    out = await run_action("exec.env", {"pid": sleeper.pid})
    assert out.ok, out.message
    v = out.value["vars"]
    assert v["STL_PLAIN"] == "visible" and v["PATH"] == "/usr/bin:/bin"
    assert v["GIT_AUTHOR_NAME"] == "Ops"
    assert v["DB_PASSWORD"] == v["GITHUB_TOKEN"] == v["AWS_SECRET_ACCESS_KEY"] == "***"
    assert v["DATABASE_URL"] == "postgres://app:***@db:5432/app"
    assert "hunter2" not in str(out.value) and "s3cret" not in str(out.value)
    assert out.value["masked"] == sorted(["AWS_SECRET_ACCESS_KEY", "DATABASE_URL", "DB_PASSWORD", "GITHUB_TOKEN"])
    out = await run_action("exec.env", {"pid": sleeper.pid, "prefix": "STL_"})
    assert out.value["vars"] == {"STL_PLAIN": "visible"}


async def test_env_of_the_agent():
    out = await run_action("exec.env", {"names": ["PATH", "HOME"]})
    assert out.ok and out.value["source"] == "agent"
    assert out.value["vars"].get("PATH") == os.environ["PATH"]


async def test_env_errors(dead_pid):
    assert (await run_action("exec.env", {"pid": dead_pid})).code == "A017"
    assert (await run_action("exec.env", {"pid": 0})).code == "A002"
    assert (await run_action("exec.env", {"pid": "self"})).code == "A002"


def test_secret_rules():
    assert is_secret_name("MYSQL_PWD") is False  # not a pattern we claim; documents the limit
    assert is_secret_name("api_key") and is_secret_name("SSH_KEY") and is_secret_name("SESSION_ID")
    assert not is_secret_name("KEYBOARD") and not is_secret_name("MONKEY")
    assert redact_value("https://u:p@host/x") == "https://u:***@host/x"
    assert redact_value("https://host/x?a=b") == "https://host/x?a=b"
