"""Runs one task through the plugin kernel and turns every outcome into a Result."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import trio

from transports import ErrorCode, JobSpec, Result, encode_value

from ._context import ActionContext, AgentInfo, TaskInfo
from ._plugins import PluginHost
from ._runner import DEFAULT_MAX_OUTPUT, TASK_LABEL, ProcessResult, task_label
from ._sdk import ActionError

log = logging.getLogger("starling.agent")


def _fail(task_id: str, code: ErrorCode, message: str, started: float, **kw: Any) -> Result:
    state = kw.pop("state", "failed")
    return Result(
        task_id=task_id,
        state=state,
        code=code.value,
        message=message,
        started=started,
        finished=time.time(),
        **kw,
    )


def _from_process(task_id: str, res: ProcessResult, started: float) -> Result:
    ok = res.exit_code == 0
    return Result(
        task_id=task_id,
        state="succeeded" if ok else "failed",
        code="" if ok else ErrorCode.A008.value,
        message="" if ok else f"exited with status {res.exit_code}",
        exit_code=res.exit_code,
        stdout=res.stdout,
        stderr=res.stderr,
        truncated=res.truncated,
        started=started,
        finished=time.time(),
    )


async def execute(
    host: PluginHost,
    task_id: str,
    job: JobSpec,
    *,
    agent: AgentInfo | None = None,
    config: dict[str, Any] | None = None,
    emitter: Callable[[int, bytes], Awaitable[None]] | None = None,
    cancel_scope: trio.CancelScope | None = None,
    max_output: int = DEFAULT_MAX_OUTPUT,
    nice: int = 0,
    kernel: Any = None,
    chunks: Any = None,
    streams: Any = None,
) -> Result:
    """Run ``job``'s action for ``task_id`` and return its Result; never raises
    (except ``trio.Cancelled`` from an enclosing scope)."""
    started = time.time()
    try:
        act = host.find_action(job.action)
        params = act.decode_params(bytes(job.params) if job.params else None)
    except ActionError as exc:
        return _fail(task_id, exc.code, exc.message, started)

    info = TaskInfo(task_id=task_id, job_id=job.job_id, action=job.action, account=job.account, timeout=job.timeout, params=params)
    refusals = [r for r in host.pm.hook.starling_task_before(task=info) if r]
    if refusals:
        return _fail(task_id, ErrorCode.A016, "; ".join(refusals), started)

    ctx = ActionContext(
        task=info,
        agent=agent or AgentInfo(),
        config=(config or {}).get(host.plugin_for(job.action) or "", {}),
        max_output=max_output,
        nice=nice,
        emitter=emitter if job.stream else None,
        chunks=chunks,
        _kernel=kernel if host.is_host_plugin(host.plugin_for(job.action) or "") else None,
        streams=streams,
    )
    timeout = job.timeout if job.timeout > 0 else act.timeout
    scope = cancel_scope or trio.CancelScope()
    result: Result
    # Every child the action starts carries this label, so a restarted agent finds its leftovers.
    label = TASK_LABEL.set(task_label(ctx.agent.state_dir, task_id))
    try:
        with scope:
            with trio.move_on_after(timeout) as timer:
                try:
                    value = await act.fn(ctx, params)
                except ActionError as exc:
                    extra: dict[str, Any] = {}
                    if isinstance(exc.data, ProcessResult):
                        extra = {"exit_code": exc.data.exit_code, "stdout": exc.data.stdout, "stderr": exc.data.stderr}
                    elif exc.data is not None:
                        extra = {"data": encode_value(exc.data)}
                    result = _fail(task_id, exc.code, exc.message, started, **extra)
                except PermissionError as exc:
                    result = _fail(task_id, ErrorCode.A016, str(exc), started)
                except Exception as exc:
                    log.exception("task %s: action %s raised", task_id, job.action)
                    result = _fail(task_id, ErrorCode.A004, f"{type(exc).__name__}: {exc}", started)
                else:
                    if isinstance(value, ProcessResult):
                        result = _from_process(task_id, value, started)
                    else:
                        try:
                            data = encode_value(value) if value is not None else b""
                        except (TypeError, msgspec.EncodeError) as exc:
                            result = _fail(task_id, ErrorCode.A004, f"result not serialisable: {exc}", started)
                        else:
                            result = Result(task_id=task_id, state="succeeded", data=data, started=started, finished=time.time())
    finally:
        TASK_LABEL.reset(label)
    if timer.cancelled_caught:
        result = _fail(task_id, ErrorCode.A005, f"timed out after {timeout:g}s; process tree killed", started, state="timed_out")
    elif scope.cancelled_caught:
        result = _fail(task_id, ErrorCode.A006, "cancelled; process tree killed", started, state="cancelled")
    host.pm.hook.starling_task_after(task=info, state=result.state, code=result.code)
    return result
