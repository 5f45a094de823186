"""exec.run and exec.script: real shells, env, cwd, stdin, streaming, exit codes, bad params."""

from __future__ import annotations

import shutil
import sys

from agent_core.testing import run_action


async def test_cmd_run_env_cwd_stdin(tmp_path):
    out = await run_action("exec.run", {"cmd": "pwd; echo $STL_X; cat", "cwd": str(tmp_path),
                                       "env": {"STL_X": "from-env"}, "stdin": "piped\n"})
    assert out.ok, out.message
    assert out.stdout == f"{tmp_path}\nfrom-env\npiped\n" and out.exit_code == 0


async def test_cmd_run_other_shell_and_stream():
    bash = shutil.which("bash")
    if bash:
        out = await run_action("exec.run", {"cmd": "echo ${BASH_VERSINFO[0]}", "shell": bash})
        assert out.ok and out.stdout.strip().isdigit()
    out = await run_action("exec.run", {"cmd": "echo one; echo two >&2"}, stream=True)
    assert {(fd, data) for fd, data in out.chunks} == {(1, b"one\n"), (2, b"two\n")}


async def test_cmd_script_with_interpreter(tmp_path):
    body = "import sys\nprint('args', sys.argv[1:])\n"
    out = await run_action("exec.script", {"body": body, "interpreter": sys.executable, "args": ["a", "b c"]})
    assert out.ok, out.message
    assert out.stdout == "args ['a', 'b c']\n"
    out = await run_action("exec.script", {"body": "exit 7"})
    assert out.code == "A008" and out.exit_code == 7


async def test_cmd_failures_and_bad_params(tmp_path):
    assert (await run_action("exec.run", {"cmd": "true", "shell": str(tmp_path / "nosh")})).code == "A009"
    assert (await run_action("exec.run", {"cmd": ["echo", "x"]})).code == "A002"
    assert (await run_action("exec.script", {"interpreter": "/bin/sh"})).code == "A002"
    assert (await run_action("exec.run", {"cmd": "true", "env": {"A": 1}})).code == "A002"
