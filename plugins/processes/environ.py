"""Environment variables of a running process, with secret-looking values always masked.

``proc.environ`` reads ``/proc/PID/environ``: the environment the process was
started with (later ``setenv`` calls inside the process are not visible).
It answers "which config does this daemon really run with" (``JAVA_OPTS``,
``LD_LIBRARY_PATH``, proxy settings, locale) without attaching to it. Values
whose names look like secrets (password, token, key, credential, ...) are
replaced by ``***`` and listed in ``masked``; there is deliberately no way to
reveal them through this action. ``names`` keeps only the given variables.
Reads only; needs the same user or root.
"""

from __future__ import annotations

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    NotFound,
    Plugin,
    Risk,
    action,
    mask_env,
)
from plugins.processes._common import get_process

PLUGIN = Plugin("proc.environ", domain="processes", requires_files=["/proc/self/environ"])


class Params(msgspec.Struct, forbid_unknown_fields=True):
    pid: int
    names: list[str] = []


class Environ(msgspec.Struct):
    pid: int
    name: str
    variables: dict[str, str]
    masked: list[str]
    count: int


def parse_environ(raw: bytes) -> dict[str, str]:
    """NUL-separated ``KEY=value`` entries; entries without ``=`` (rare, set by exec tricks) are skipped."""
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


def _read_environ(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise NotFound(f"process {pid} exited") from None
    except PermissionError:
        raise ActionError(f"not allowed to read the environment of pid {pid} (run the agent as root)", code=ErrorCode.A016) from None


@action("proc.environ", risk=Risk.READ, timeout=10)
async def environ(ctx: ActionContext, p: Params) -> Environ:
    """The start-up environment of ``pid`` with secret-looking values masked; ``names`` filters."""
    proc = get_process(p.pid)
    env = parse_environ(_read_environ(p.pid))
    variables, masked = mask_env(env, p.names)
    return Environ(pid=p.pid, name=proc.name(), variables=variables, masked=masked, count=len(env))
