"""sys.env: the agent's own environment, with secrets masked."""

from __future__ import annotations

import os

from agent_core.testing import run_action


async def test_env_masks_secrets(monkeypatch):
    monkeypatch.setenv("STARLING_T_PLAIN", "visible")
    monkeypatch.setenv("STARLING_T_DB_PASSWORD", "hunter2")
    monkeypatch.setenv("STARLING_T_API_TOKEN", "abc123")
    monkeypatch.setenv("https_proxy", "http://user:s3cret@proxy.example:3128")
    out = await run_action("sys.env")
    assert out.ok, out.message
    v = out.value
    assert v["variables"]["STARLING_T_PLAIN"] == "visible"
    assert v["variables"]["STARLING_T_DB_PASSWORD"] == "***"
    assert v["variables"]["STARLING_T_API_TOKEN"] == "***"
    assert {"STARLING_T_DB_PASSWORD", "STARLING_T_API_TOKEN"} <= set(v["masked"])
    assert v["proxies"]["https_proxy"] == "http://user:***@proxy.example:3128"
    assert "s3cret" not in repr(v)
    assert v["pid"] == os.getpid() and v["uid"] == os.geteuid() and v["cwd"] == os.getcwd()


async def test_env_filters_and_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", f"{tmp_path}:/no/such/dir")
    monkeypatch.setenv("STARLING_T_ONE", "1")
    out = await run_action("sys.env", {"prefix": "STARLING_T_"})
    assert set(out.value["variables"]) == {"STARLING_T_ONE"}
    assert out.value["path"] == [{"dir": str(tmp_path), "exists": True}, {"dir": "/no/such/dir", "exists": False}]
    out = await run_action("sys.env", {"names": ["PATH"]})
    assert set(out.value["variables"]) == {"PATH"}


async def test_env_umask_matches_process():
    old = os.umask(0o027)
    try:
        out = await run_action("sys.env")
    finally:
        os.umask(old)
    assert out.value["umask"] == "0027"


async def test_env_bad_params():
    assert (await run_action("sys.env", {"reveal": True})).code == "A002"
