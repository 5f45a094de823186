"""The context an action runs in: who it runs for and the tools it may use."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from transports import ErrorCode

from ._runner import DEFAULT_MAX_OUTPUT, ProcessResult, run_process
from ._sdk import ActionError

if TYPE_CHECKING:
    from ._chunks import ChunkClient
    from ._kernel import Kernel
    from ._streams import StreamEnd, StreamHub


#: The environment ``ctx.run(..., c_locale=True)`` adds: output that parses the
#: same on every host (C locale, no pagers, no colours, no prompts).
C_LOCALE_ENV = {
    "LC_ALL": "C",
    "LANG": "C",
    "DEBIAN_FRONTEND": "noninteractive",
    "SYSTEMD_PAGER": "",
    "SYSTEMD_LESS": "",
    "SYSTEMD_COLORS": "0",
}

T = TypeVar("T")


class Stopped(Exception):
    """Raised by :meth:`CancelToken.check` in a worker thread whose task was cancelled."""


class CancelToken:
    """A flag a worker thread polls (``cancel.check()``) to stop when its task is cancelled or times out."""

    def __init__(self) -> None:
        self.cancelled = False

    def check(self) -> None:
        if self.cancelled:
            raise Stopped


@dataclass(frozen=True)
class AgentInfo:
    """Who this agent is."""

    agent_id: str = ""
    hostname: str = ""
    idc: str = ""
    state_dir: Path = Path(".")
    version: str = ""


@dataclass(frozen=True)
class TaskInfo:
    """The task an action runs for (read-only for hooks)."""

    task_id: str
    job_id: str
    action: str
    account: str = ""
    timeout: float = 60.0
    params: Any = None


@dataclass
class ActionContext:
    """Passed to every action as its first argument."""

    task: TaskInfo
    agent: AgentInfo = field(default_factory=AgentInfo)
    config: Mapping[str, Any] = field(default_factory=dict)
    max_output: int = DEFAULT_MAX_OUTPUT
    nice: int = 0
    emitter: Callable[[int, bytes], Awaitable[None]] | None = None
    #: The file channel (``await ctx.chunks.get(sha256)`` / ``put``); None outside an agent.
    chunks: ChunkClient | None = None
    #: Interactive streams (``ctx.open_stream(id)``); None outside an agent.
    streams: StreamHub | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("starling.plugin"))
    # The running agent's kernel (the wheel installer): handed only to the built-in
    # ``agent`` plugin, which reaches it through agent_core.host.kernel_of(ctx).
    _kernel: Kernel | None = field(default=None, repr=False)

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def streaming(self) -> bool:
        return self.emitter is not None

    async def emit(self, data: bytes | str, stream: int = 1) -> None:
        """Stream a chunk of output to the caller (dropped when not streaming)."""
        if self.emitter is not None:
            await self.emitter(stream, data.encode() if isinstance(data, str) else data)

    async def run(
        self,
        cmd: Sequence[str] | str,
        *,
        shell: bool = False,
        input: bytes | str | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = False,
        c_locale: bool = False,
    ) -> ProcessResult:
        """Run a command under the task's limits (timeout kills the tree).

        ``cmd`` is an argv list, or a string run by ``/bin/sh -c`` when ``shell``
        (or split with shlex otherwise). ``env`` replaces the environment (the
        agent's is used when it is ``None``); ``c_locale`` adds
        :data:`C_LOCALE_ENV` on top, for output a plugin parses. With ``check``, a
        non-zero exit raises :class:`ActionError` ``A008`` carrying the result.
        """
        if isinstance(cmd, str):
            import shlex  # here, not at the top: an idle agent never runs a command

            argv = ["/bin/sh", "-c", cmd] if shell else shlex.split(cmd)
        else:
            argv = list(cmd)
        if c_locale:
            env = {**(os.environ if env is None else env), **C_LOCALE_ENV}
        data = input.encode() if isinstance(input, str) else input
        result = await run_process(
            argv,
            input=data,
            cwd=cwd,
            env=env,
            max_output=self.max_output,
            on_output=self.emitter,
            nice=self.nice,
        )
        if check and result.exit_code != 0:
            first = (result.stderr or result.stdout).strip().splitlines()
            raise ActionError(
                f"{argv[0]} exited {result.exit_code}: {first[-1] if first else ''}",
                code=ErrorCode.A008,
                data=result,
            )
        return result

    @contextlib.contextmanager
    def open_stream(self, stream_id: int, sealed_key: bytes = b"", window: int = 0) -> Iterator[StreamEnd]:
        """This action's end of the interactive stream ``stream_id`` (see
        :mod:`agent_core._streams`); with ``sealed_key`` (from the signed params) only
        input authenticated with that session key is taken; with ``window`` (from the
        signed params) output is flow-controlled (:meth:`StreamEnd.wait_credit`).
        Raises :class:`ActionError` A003 outside an agent, A010 when the key was not
        sealed to this agent."""
        if self.streams is None:
            raise ActionError("interactive streams need a running agent", code=ErrorCode.A003)
        end = self.streams.open(stream_id, sealed_key, window)
        try:
            yield end
        finally:
            self.streams.release(stream_id)

    def which(self, program: str) -> str | None:
        return shutil.which(program)

    def data_dir(self, plugin: str) -> Path:
        """A private, persistent directory for one plugin's files."""
        path = self.agent.state_dir / "plugins" / plugin
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)

    async def to_thread(self, fn: Callable[..., T], *args: Any, cancellable: bool = False) -> T:
        """Run blocking ``fn(*args)`` in a worker thread; the event loop keeps serving.

        When the task is cancelled or times out the action returns at once (the
        thread is abandoned, its result dropped). With ``cancellable`` the function
        is called as ``fn(*args, cancel=token)`` with a :class:`CancelToken` it
        should ``check()`` in its loops, so an abandoned walk also stops working.
        """
        if not cancellable:
            return await trio.to_thread.run_sync(lambda: fn(*args), abandon_on_cancel=True)
        token = CancelToken()
        try:
            return await trio.to_thread.run_sync(lambda: fn(*args, cancel=token), abandon_on_cancel=True)
        finally:
            token.cancelled = True
