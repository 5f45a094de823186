"""``starling-agent call ACTION key=value ...``: run one action on this host, now.

For debugging a plugin on the machine it misbehaves on: the action runs through
the same executor as a task from the center (params validated against its type,
its declared timeout enforced, the process tree killed on timeout or Ctrl-C,
errors mapped to catalogue codes), without a center, a proxy or a running agent.
Nothing is signed or journalled: it runs as whoever calls it.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from transports import ErrorCode, JobSpec, Result, StarlingError, decode_value, encode_value

from ._context import AgentInfo
from ._executor import execute
from ._plugins import PluginHost

__all__ = ["call_action", "parse_params", "render_result"]


def parse_params(pairs: Sequence[str], params_json: str | None = None) -> dict[str, Any]:
    """``key=value`` words (and/or one JSON object) as a params dict.

    A value that parses as JSON is taken as JSON (``limit=5``, ``all=true``,
    ``names=["a","b"]``, ``x=null``); anything else is the string itself
    (``path=/var/log``). ``key:=value`` forces the string. Raises
    :class:`StarlingError` ``A002`` for a word without ``=`` or JSON that is not an object.
    """
    params: dict[str, Any] = {}
    if params_json:
        try:
            doc = json.loads(params_json)
        except ValueError as exc:
            raise StarlingError(f"--json-params is not JSON: {exc}", code=ErrorCode.A002) from exc
        if not isinstance(doc, dict):
            raise StarlingError("--json-params must be a JSON object", code=ErrorCode.A002)
        params.update(doc)
    for word in pairs:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise StarlingError(f"{word!r}: params are key=value words", code=ErrorCode.A002)
        if key.endswith(":"):
            params[key[:-1]] = value
            continue
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


async def call_action(
    action: str,
    params: dict[str, Any],
    *,
    state_dir: Path | None = None,
    stream: bool = False,
    timeout: float = 0,  # noqa: ASYNC109 - the task's own timeout, as the center sends it
    host: PluginHost | None = None,
) -> Result:
    """Run ``action`` once in this process, exactly as the agent's executor runs a task."""
    host = host or PluginHost()
    job = JobSpec(
        job_id="local",
        action=action,
        params=msgspec.Raw(encode_value(params)),
        timeout=timeout,
        deadline=time.time() + 86400,
        stream=stream,
    )

    async def emit(fd: int, data: bytes) -> None:
        out = sys.stderr.buffer if fd == 2 else sys.stdout.buffer
        out.write(data)
        out.flush()

    with tempfile.TemporaryDirectory(prefix="starling-call-") as tmp:
        agent = AgentInfo(agent_id="local", hostname="", state_dir=state_dir or Path(tmp))
        return await execute(host, "local-1", job, agent=agent, emitter=emit if stream else None)


def render_result(result: Result) -> dict[str, Any]:
    """The result as one JSON-able object (``data`` decoded, output as text)."""
    doc: dict[str, Any] = {"state": result.state, "code": result.code, "message": result.message}
    if result.data:
        doc["data"] = msgspec.to_builtins(decode_value(result.data), enc_hook=repr)
    if result.exit_code is not None:
        doc |= {"exit_code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}
    if result.truncated:
        doc["truncated"] = True
    return doc
