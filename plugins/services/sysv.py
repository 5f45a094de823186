"""Status, start, stop, restart or reload a service through its SysV init script.

The fallback for hosts without systemd (older distributions, containers,
minimal images): ``sysv.status`` runs ``/etc/init.d/NAME status`` and maps
the LSB exit code to running / stopped / dead; ``sysv.start``,
``sysv.stop``, ``sysv.restart`` and ``sysv.reload`` run the script the way
``service`` does (clean environment, ``/`` as working directory) and then
read the status back. A missing script fails with ``A017``, a failed action
with ``A014`` carrying the script's output.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action

from ._sysv import INITDIR, check_dir, run_script, script, status_name

PLUGIN = Plugin(
    "sysv", domain="services", requires_files=[INITDIR]
)


class ScriptParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    initdir: str = INITDIR
    """Where the scripts live (``/etc/rc.d/init.d`` on old Red Hat systems)."""


class ScriptStatus(msgspec.Struct):
    name: str
    state: str
    """``running``, ``stopped``, ``dead (pid file exists)``, ``unknown``..."""
    running: bool
    exit_code: int
    output: str


class ScriptResult(msgspec.Struct):
    name: str
    action: str
    exit_code: int
    output: str
    state: str
    running: bool


async def _status(ctx: ActionContext, path: str, name: str) -> ScriptStatus:
    res = await run_script(ctx, path, "status")
    return ScriptStatus(
        name=name,
        state=status_name(res.exit_code),
        running=res.exit_code == 0,
        exit_code=res.exit_code,
        output=(res.stdout + res.stderr).strip(),
    )


async def _act(ctx: ActionContext, verb: str, p: ScriptParams, want_running: bool) -> ScriptResult:
    path = script(check_dir(p.initdir, "initdir"), p.name)
    res = await run_script(ctx, path, verb)
    output = (res.stdout + res.stderr).strip()
    after = await _status(ctx, path, p.name)
    if res.exit_code != 0 or after.running != want_running:
        raise ActionError(
            f"{p.name} {verb} exited {res.exit_code}; service is {after.state}: {output.splitlines()[-1] if output else ''}",
            code=ErrorCode.A014,
            data=res,
        )
    return ScriptResult(
        name=p.name,
        action=verb,
        exit_code=res.exit_code,
        output=output,
        state=after.state,
        running=after.running,
    )


@action("sysv.status", risk=Risk.READ, timeout=30)
async def status(ctx: ActionContext, p: ScriptParams) -> ScriptStatus:
    """Run the script's ``status`` and map the LSB exit code to a state."""
    path = script(check_dir(p.initdir, "initdir"), p.name)
    return await _status(ctx, path, p.name)


@action("sysv.start", risk=Risk.CHANGE, timeout=120)
async def start(ctx: ActionContext, p: ScriptParams) -> ScriptResult:
    """Start the service with its init script and check that it runs."""
    return await _act(ctx, "start", p, True)


@action("sysv.stop", risk=Risk.DANGER, timeout=120)
async def stop(ctx: ActionContext, p: ScriptParams) -> ScriptResult:
    """Stop the service with its init script and check that it stopped."""
    return await _act(ctx, "stop", p, False)


@action("sysv.restart", risk=Risk.DANGER, timeout=180)
async def restart(ctx: ActionContext, p: ScriptParams) -> ScriptResult:
    """Restart the service with its init script and check that it runs."""
    return await _act(ctx, "restart", p, True)


@action("sysv.reload", risk=Risk.CHANGE, timeout=120)
async def reload(ctx: ActionContext, p: ScriptParams) -> ScriptResult:
    """Ask the service to reload its configuration (``reload`` or ``force-reload``)."""
    return await _act(ctx, "reload", p, True)
