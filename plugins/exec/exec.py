"""Run shell commands and scripts.

``exec.run`` runs one command line with ``/bin/sh -c`` (or another shell);
``exec.script`` writes a script body to a private temporary file and runs it
with the interpreter you name. Both return the exit code, stdout and stderr
(each capped by the agent's ``max_output``), stream output when the job asks
for it, and kill the whole process tree on timeout or cancel.
"""

from __future__ import annotations

import os
import tempfile
from typing import Annotated

import msgspec

from agent_core import ActionContext, Plugin, ProcessResult, Risk, action, code

PLUGIN = Plugin("exec", domain="exec")


class RunParams(msgspec.Struct, forbid_unknown_fields=True):
    cmd: Annotated[str, code("command", max_length=1_000_000)]
    shell: Annotated[str, code("interpreter", max_length=4096)] = "/bin/sh"
    cwd: str | None = None
    env: Annotated[dict[str, str], code("env")] = {}
    stdin: Annotated[str, code("stdin")] | None = None


class ScriptParams(msgspec.Struct, forbid_unknown_fields=True):
    body: Annotated[str, code("script", max_length=8_000_000)]
    interpreter: Annotated[str, code("interpreter", max_length=4096)] = "/bin/sh"
    args: Annotated[list[str], code("args")] = []
    cwd: str | None = None
    env: Annotated[dict[str, str], code("env")] = {}


def _env(extra: dict[str, str]) -> dict[str, str] | None:
    if not extra:
        return None
    env = dict(os.environ)
    env.update(extra)
    return env


@action("exec.run", risk=Risk.DANGER, timeout=60, streams=True)
async def run(ctx: ActionContext, p: RunParams) -> ProcessResult:
    """Run a command line with ``shell -c`` and return exit code, stdout and stderr."""
    return await ctx.run([p.shell, "-c", p.cmd], input=p.stdin, cwd=p.cwd, env=_env(p.env))


@action("exec.script", risk=Risk.DANGER, timeout=300, streams=True)
async def script(ctx: ActionContext, p: ScriptParams) -> ProcessResult:
    """Write ``body`` to a private temporary file and run it with ``interpreter``."""
    fd, path = tempfile.mkstemp(prefix="starling-script-", suffix=".sh")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(p.body)
        os.chmod(path, 0o700)
        argv = [*p.interpreter.split(), path, *p.args]
        return await ctx.run(argv, cwd=p.cwd, env=_env(p.env))
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
