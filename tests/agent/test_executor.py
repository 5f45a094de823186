from __future__ import annotations

import os
import time

import psutil

from agent_core.testing import run_action


async def test_cmd_run_ok():
    out = await run_action("exec.run", {"cmd": "echo hi; echo err >&2"})
    assert out.ok and out.exit_code == 0
    assert out.stdout == "hi\n" and out.stderr == "err\n"


async def test_cmd_run_nonzero():
    out = await run_action("exec.run", {"cmd": "exit 3"})
    assert out.state == "failed" and out.code == "A008" and out.exit_code == 3


async def test_unknown_action_and_bad_params():
    out = await run_action("nope.nothing", {})
    assert out.code == "A001"
    out = await run_action("cmd.nothing", {})
    assert out.code == "A001"
    out = await run_action("exec.run", {"cmd": 5})
    assert out.code == "A002" and "cmd" in out.message
    out = await run_action("exec.run", {"cmd": "true", "bogus": 1})
    assert out.code == "A002"


async def test_timeout_kills_tree(tmp_path):
    pidfile = tmp_path / "pids"
    cmd = f"(sleep 300 & echo $! >> {pidfile}; wait) & echo $! >> {pidfile}; sleep 300"
    t0 = time.monotonic()
    out = await run_action("exec.run", {"cmd": cmd}, timeout=0.5)
    assert out.state == "timed_out" and out.code == "A005"
    assert time.monotonic() - t0 < 10
    pids = [int(x) for x in pidfile.read_text().split()]
    time.sleep(0.2)
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


async def test_output_cap_and_stream():
    out = await run_action("exec.run", {"cmd": "head -c 3000000 /dev/zero | tr '\\0' a"}, stream=True)
    assert out.ok and out.result.truncated
    assert len(out.stdout) == 1024 * 1024
    assert sum(len(c) for _, c in out.chunks) == 3000000


async def test_cmd_script_and_missing_interpreter():
    out = await run_action("exec.script", {"body": "echo $1-$2", "args": ["a", "b"]})
    assert out.ok and out.stdout == "a-b\n"
    out = await run_action("exec.script", {"body": "x", "interpreter": "/no/such/sh"})
    assert out.code == "A009"
    out = await run_action("exec.run", {"cmd": "pwd", "cwd": "/no/such/dir"})
    assert out.code == "A009"


async def test_sys_info_and_file_stat(tmp_path):
    out = await run_action("sys.info")
    assert out.ok and out.value["cpus"] == os.cpu_count()
    f = tmp_path / "x"
    f.write_text("abc")
    out = await run_action("file.stat", {"path": str(f)})
    assert out.ok and out.value["size"] == 3 and out.value["type"] == "file"
    out = await run_action("file.stat", {"path": str(tmp_path / "missing")})
    assert out.ok and out.value["exists"] is False
