"""Show the agent's (or a process's) environment with secrets masked.

``exec.env`` lists environment variables as commands started by the agent
would see them, or those of any process by ``pid`` (read from
``/proc/<pid>/environ``). Variables whose names say they hold a secret
(``*PASSWORD*``, ``*TOKEN*``, ``*_KEY``, ``AWS_SECRET_ACCESS_KEY`` ...) are
masked, as are passwords inside URLs (``postgres://u:***@db``); the answer
lists what was masked. ``names`` or ``prefix`` narrow the listing. It only
reads.
"""

from __future__ import annotations

import os
from typing import Annotated

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

PLUGIN = Plugin("exec.env", domain="exec")


class EnvParams(msgspec.Struct, forbid_unknown_fields=True):
    pid: Annotated[int, msgspec.Meta(ge=1)] | None = None
    names: list[str] = []
    prefix: str | None = None


class EnvResult(msgspec.Struct):
    source: str
    count: int
    vars: dict[str, str]
    masked: list[str]


def read_environ(pid: int) -> dict[str, str]:
    """A process's environment as it was at exec time."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise NotFound(f"no process with pid {pid}") from None
    except PermissionError:
        raise ActionError(f"may not read the environment of pid {pid}", code=ErrorCode.A016) from None
    env: dict[str, str] = {}
    for item in raw.split(b"\x00"):
        if b"=" in item:
            key, _, value = item.partition(b"=")
            env[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return env


@action("exec.env", risk=Risk.READ, timeout=10)
async def env(ctx: ActionContext, p: EnvParams) -> EnvResult:
    """Environment variables of the agent (or of ``pid``), secrets masked."""
    raw = dict(os.environ) if p.pid is None else read_environ(p.pid)
    if p.names:
        raw = {k: v for k, v in raw.items() if k in set(p.names)}
    if p.prefix:
        raw = {k: v for k, v in raw.items() if k.startswith(p.prefix)}
    shown, masked = mask_env(dict(sorted(raw.items())))
    return EnvResult(
        source="agent" if p.pid is None else f"pid {p.pid}",
        count=len(shown),
        vars=shown,
        masked=masked,
    )
