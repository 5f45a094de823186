"""Test helpers for plugin authors, also loaded as a pytest plugin.

Run any action in-process, exactly as the agent would (params validated, the
timeout enforced, errors mapped to catalogue codes)::

    from agent_core.testing import run_action

    async def test_greet():
        out = await run_action("hello.greet", {"name": "ops"})
        assert out.ok and out.value["text"] == "hello ops"

Fixtures: ``plugin_host`` (a fresh :class:`~agent_core.PluginHost` over every
installed plugin) and ``run_action``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from transports import JobSpec, Result, decode_value, encode_value

from ._context import AgentInfo
from ._executor import execute
from ._plugins import PluginHost

_default_host: PluginHost | None = None


@dataclass
class Outcome:
    """A task's result as a test wants to read it."""

    result: Result
    value: Any = None
    chunks: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result.state == "succeeded"

    @property
    def state(self) -> str:
        return self.result.state

    @property
    def code(self) -> str:
        return self.result.code

    @property
    def message(self) -> str:
        return self.result.message

    @property
    def exit_code(self) -> int | None:
        return self.result.exit_code

    @property
    def stdout(self) -> str:
        return self.result.stdout

    @property
    def stderr(self) -> str:
        return self.result.stderr


async def run_action(
    action: str,
    params: dict[str, Any] | msgspec.Struct | None = None,
    *,
    host: PluginHost | None = None,
    timeout: float = 0,  # noqa: ASYNC109 - the action's own timeout, not a wait
    stream: bool = False,
    state_dir: Path | None = None,
) -> Outcome:
    """Run ``action`` with ``params`` in this process and return its :class:`Outcome`."""
    global _default_host
    if host is None:
        if _default_host is None:
            _default_host = PluginHost()
        host = _default_host
    raw = encode_value(params if params is not None else {})
    job = JobSpec(
        job_id="test",
        action=action,
        params=msgspec.Raw(raw),
        timeout=timeout,
        deadline=time.time() + 3600,
        stream=stream,
    )
    chunks: list[tuple[int, bytes]] = []

    async def emitter(fd: int, data: bytes) -> None:
        chunks.append((fd, data))

    agent = AgentInfo(agent_id="test-agent", hostname="test", state_dir=state_dir or Path("/tmp/starling-test"))
    result = await execute(host, "test-1", job, agent=agent, emitter=emitter)
    value = decode_value(result.data) if result.data else None
    return Outcome(result=result, value=value, chunks=chunks)


@pytest.fixture
def plugin_host() -> PluginHost:
    return PluginHost()


@pytest.fixture(name="run_action")
def run_action_fixture(plugin_host: PluginHost, tmp_path: Path) -> Any:
    async def runner(action: str, params: Any = None, **kw: Any) -> Outcome:
        kw.setdefault("state_dir", tmp_path)
        return await run_action(action, params, host=plugin_host, **kw)

    return runner
