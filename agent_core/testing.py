"""Test helpers for plugin authors, also loaded as a pytest plugin.

Installing ``starling`` registers this module under the ``pytest11`` entry
point, so every test suite in the same environment gets its fixtures without a
``conftest.py``. Two levels of realism:

**In-process.** Run any action exactly as the agent's executor would (params
validated, the timeout enforced, errors mapped to catalogue codes)::

    from agent_core.testing import run_action

    async def test_greet():
        out = await run_action("hello.greet", {"name": "ops"})
        assert out.ok and out.value["text"] == "hello ops"

**Through a real agent.** The ``memory_agent`` fixture runs the real
:class:`agent_core._agent.Agent` (journal, signature check, acks, result
delivery, heartbeats) against a stand-in proxy on the in-memory carrier, so a
task travels the same path it does in production minus the network::

    async def test_greet_through_agent(memory_agent):
        out = await memory_agent.run("hello.greet", {"name": "ops"})
        assert out.ok and out.acks == ["received", "running"]

What is stand-in and what is real: the fixture plays the center and the proxy
(it signs each job with its own Ed25519 key, which the agent trusts through a
pre-written enrollment file, and answers pings); everything on the agent's side
is the production code. Registration is really attempted against a loopback
port that refuses connections, so the agent falls back to the cached
enrollment, exactly as it does during a center outage.

Fixtures: ``plugin_host`` (a fresh :class:`~agent_core.PluginHost` over every
installed plugin), ``run_action`` (``run_action`` bound to that host and a
temporary state directory) and ``memory_agent`` (:class:`MemoryAgent`).
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from transports import (
    Ack,
    Channel,
    Hello,
    JobSpec,
    Output,
    Ping,
    Pong,
    Result,
    ResultAck,
    Task,
    TaskRef,
    Welcome,
    decode_value,
    encode_value,
)

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
    #: Through ``memory_agent`` only: the ack states the agent sent, in order.
    acks: list[str] = field(default_factory=list)

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


def _outcome(result: Result, chunks: list[tuple[int, bytes]], acks: list[str] | None = None) -> Outcome:
    value = decode_value(result.data) if result.data else None
    return Outcome(result=result, value=value, chunks=chunks, acks=acks or [])


async def run_action(
    action: str,
    params: dict[str, Any] | msgspec.Struct | None = None,
    *,
    host: PluginHost | None = None,
    timeout: float = 0,  # noqa: ASYNC109 - the task's own timeout, sent with it
    stream: bool = False,
    state_dir: Path | None = None,
    config: Mapping[str, Any] | None = None,
    file_channel: Any = None,
) -> Outcome:
    """Run ``action`` with ``params`` in this process and return its :class:`Outcome`.

    :param host: the plugin host (default: one shared host over every installed plugin).
    :param timeout: override the action's default timeout (0 = keep it).
    :param stream: collect streamed output in :attr:`Outcome.chunks`.
    :param state_dir: the agent state directory the action sees (``ctx.agent.state_dir``).
    :param config: the action's plugin config section (``ctx.config``), as the
        agent reads it from ``[agent.plugin_config.<plugin>]``.
    :param file_channel: the file channel the action sees (``ctx.chunks``): anything
        with ``async get(sha256, refresh=False)`` and ``async put(sha256, data)``.
    """
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

    plugin_config: dict[str, Any] = {}
    if config is not None:
        plugin_config[host.plugin_for(action) or ""] = dict(config)
    agent = AgentInfo(agent_id="test-agent", hostname="test", state_dir=state_dir or Path("/tmp/starling-test"))
    result = await execute(host, "test-1", job, agent=agent, config=plugin_config, emitter=emitter, chunks=file_channel)
    return _outcome(result, chunks)


# -- an in-memory agent ---------------------------------------------------------------


def _refusing_port() -> socket.socket:
    """A loopback port that is bound but not listening: connections to it are refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def _write_enrollment(state_dir: Path, data: bytes) -> None:
    """What a successful registration leaves behind: the agent's cached enrollment."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "enrollment.json").write_bytes(data)


class MemoryAgent:
    """A real agent connected to a stand-in proxy over the memory carrier.

    Made by the ``memory_agent`` fixture or :func:`open_memory_agent`.

    :ivar agent: the running :class:`agent_core._agent.Agent`.
    :ivar hello: the ``Hello`` the agent sent when it connected.
    :ivar pings: every heartbeat received (``Ping`` with its ``Health``).
    """

    def __init__(self, agent: Any, agent_id: str, key: Any, key_id: str) -> None:
        self.agent = agent
        self.agent_id = agent_id
        self.hello: Hello | None = None
        self.pings: list[Ping] = []
        self._key = key
        self._key_id = key_id
        self._channel: Channel | None = None
        self._connected = trio.Event()
        self._inbox: dict[str, trio.MemorySendChannel[Any]] = {}
        self._seq = 0

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def sign(self, spec: JobSpec, task_id: str) -> Task:
        """Sign ``spec`` for one task on this agent, as the center does: issued
        now, and expiring at its deadline, which is capped at 10 minutes from now
        (an agent refuses a deadline past the expiry, or a longer life)."""
        from transports.signing import sign_job_spec

        now = time.time()
        expires = min(spec.deadline, now + 600) if spec.deadline > 0 else now + 600
        spec = msgspec.structs.replace(spec, deadline=expires)
        signed, refs = sign_job_spec(
            self._key, self._key_id, spec, [TaskRef(task_id=task_id, agent_id=self.agent_id)], expires=expires, issued=now
        )
        return Task(task_id=task_id, job=signed, proof=refs[0].proof, index=refs[0].index)

    async def send_task(self, task: Task) -> None:
        """Send a task as the proxy would (signed or not: the agent decides)."""
        await self._connected.wait()
        assert self._channel is not None
        await self._channel.send(task)

    async def run(
        self,
        action: str,
        params: dict[str, Any] | msgspec.Struct | None = None,
        *,
        timeout: float = 60.0,  # noqa: ASYNC109 - the task's own timeout, sent with it
        stream: bool = False,
        task_id: str | None = None,
        account: str = "test",
    ) -> Outcome:
        """Dispatch one signed task to the agent and wait for its result.

        The result is acknowledged (``ResultAck``) like the center does, so the
        agent's journal marks it delivered.
        """
        self._seq += 1
        task_id = task_id or f"mem-{uuid.uuid4().hex[:12]}"
        spec = JobSpec(
            job_id=f"job-{self._seq}",
            action=action,
            params=msgspec.Raw(encode_value(params if params is not None else {})),
            timeout=timeout,
            deadline=time.time() + timeout + 60,
            stream=stream,
            account=account,
        )
        return await self.deliver(self.sign(spec, task_id))

    async def deliver(self, task: Task) -> Outcome:
        """Send ``task`` and collect acks, output and the result for its id."""
        send, recv = trio.open_memory_channel[Any](1000)
        self._inbox[task.task_id] = send
        acks: list[str] = []
        chunks: list[tuple[int, bytes]] = []
        try:
            await self.send_task(task)
            async for msg in recv:
                if isinstance(msg, Ack):
                    acks.append(msg.state)
                elif isinstance(msg, Output):
                    chunks.append((msg.stream, msg.data))
                elif isinstance(msg, Result):
                    assert self._channel is not None
                    await self._channel.send(ResultAck(task_ids=[msg.task_id]))
                    return _outcome(msg, chunks, acks)
        finally:
            self._inbox.pop(task.task_id, None)
        raise AssertionError("the proxy channel closed before the result came")

    async def serve(self, channel: Channel) -> None:
        """The stand-in proxy's side of one connection."""
        first = await channel.receive()
        if not isinstance(first, Hello) or first.role != "agent":
            await channel.aclose()
            return
        self.hello = first
        await channel.send(Welcome(session=uuid.uuid4().hex, heartbeat=1.0, server_time=time.time()))
        self._channel = channel
        self._connected.set()
        try:
            async for msg in channel:
                if isinstance(msg, Ping):
                    self.pings.append(msg)
                    await channel.send(Pong(seq=msg.seq))
                    continue
                task_id = getattr(msg, "task_id", None)
                inbox = self._inbox.get(task_id) if task_id else None
                if inbox is not None:
                    await inbox.send(msg)
        finally:
            self._channel = None
            self._connected = trio.Event()


async def _start_memory_agent(
    nursery: trio.Nursery,
    state_dir: Path,
    host: PluginHost | None,
    plugin_config: Mapping[str, Mapping[str, Any]] | None,
) -> MemoryAgent:
    from transports import get_carrier
    from transports.signing import key_id_for, new_private_key, public_key_bytes

    from ._agent import Agent
    from ._config import AgentConfig
    from ._register import Enrollment, ProxyInfo

    key = new_private_key()
    key_id = key_id_for(key)
    agent_id = f"mem-agent-{uuid.uuid4().hex[:8]}"
    url = f"memory://starling-testing-{uuid.uuid4().hex}"
    refusing = _refusing_port()
    port = refusing.getsockname()[1]
    enrollment = Enrollment(
        agent_id=agent_id,
        credential="memory-credential",
        proxies=[ProxyInfo(id="memory-proxy", urls=[url], idc="test")],
        heartbeat=1.0,
        center_keys={key_id: base64.b64encode(public_key_bytes(key)).decode()},
    )
    _write_enrollment(state_dir, msgspec.json.encode(enrollment))
    config = AgentConfig(
        center=[f"https://127.0.0.1:{port}"],
        state_dir=str(state_dir),
        transport="memory",
        heartbeat=1.0,
        backoff_min=0.05,
        backoff_max=0.5,
        plugin_config={k: dict(v) for k, v in (plugin_config or {}).items()},
        # The host's load is not the plugin's business in a test, and this agent lives
        # inside the test runner, whose memory is not the agent's: never defer a task.
        max_cpu_pressure=0.0,
        max_load_per_cpu=0.0,
        mem_budget_mb=0,
    )
    agent = Agent(config, host=host)
    handle = MemoryAgent(agent, agent_id, key, key_id)
    await nursery.start(get_carrier(url).serve, url, handle.serve)

    async def run_agent() -> None:
        try:
            await agent.run()
        finally:
            refusing.close()
            agent.journal.close()

    nursery.start_soon(run_agent)
    with trio.fail_after(30):
        await handle.wait_connected()
    return handle


@asynccontextmanager
async def open_memory_agent(
    state_dir: Path,
    *,
    host: PluginHost | None = None,
    plugin_config: Mapping[str, Mapping[str, Any]] | None = None,
) -> AsyncIterator[MemoryAgent]:
    """Run a real agent with its state in ``state_dir``, connected to a stand-in
    proxy over the memory carrier; stop it (cancel) on exit.

    :param host: the plugin host the agent uses (default: every installed plugin).
    :param plugin_config: the agent's ``plugin_config`` (``{plugin: {key: value}}``).
    """
    async with trio.open_nursery() as nursery:
        handle = await _start_memory_agent(nursery, state_dir, host, plugin_config)
        yield handle
        nursery.cancel_scope.cancel()


@pytest.fixture
def plugin_host() -> PluginHost:
    """A fresh plugin host over every installed plugin."""
    return PluginHost()


@pytest.fixture(name="run_action")
def run_action_fixture(plugin_host: PluginHost, tmp_path: Path) -> Any:
    """:func:`run_action` bound to ``plugin_host`` and a temporary state directory."""

    async def runner(action: str, params: Any = None, **kw: Any) -> Outcome:
        kw.setdefault("state_dir", tmp_path)
        return await run_action(action, params, host=plugin_host, **kw)

    return runner


@pytest.fixture
async def memory_agent(plugin_host: PluginHost, tmp_path: Path) -> AsyncIterator[MemoryAgent]:
    """A real agent over the memory carrier, connected and ready (see the module doc)."""
    async with open_memory_agent(tmp_path / "agent", host=plugin_host) as handle:
        yield handle


def spawned(argv: list[str], timeout: float = 10.0, **popen: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(argv, **popen)``, returned once the child has exec'd ``argv``.

    Between fork and exec a child's ``/proc/PID/cmdline``, ``exe`` and ``environ`` are still
    its parent's, so a test that looks for the child right after ``Popen`` can miss it on a
    loaded machine. Waits (up to ``timeout``) until its command line is ``argv``."""
    proc = subprocess.Popen(argv, **popen)
    want = b"".join(a.encode() + b"\0" for a in argv)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{proc.pid}/cmdline", "rb") as fh:
                if fh.read() == want:
                    break
        except OSError:
            break  # gone already: the test sees that itself
        time.sleep(0.005)
    return proc


def needs(*tools: str, paths: tuple[str, ...] = (), why: str = "") -> pytest.MarkDecorator:
    """Skip a test of a plugin's real path, with the reason, where what it drives is absent.

    ``tools`` are programs looked up on ``PATH``, ``paths`` files or directories (``/proc/mdstat``,
    ``/sys/class/hwmon``). A skipped test says which are missing, so the summary shows what this
    host really exercised; the "tool missing" branch itself is tested with :func:`hidden_tools`.
    """
    missing = [t for t in tools if shutil.which(t) is None]
    missing += [p for p in paths if not os.path.exists(p)]
    reason = f"{', '.join(missing)} absent on this host: the real path is not exercised here"
    return pytest.mark.skipif(bool(missing), reason=reason + (f" ({why})" if why else ""))


_PRIVATE_ETC: dict[str, Any] = {}


def enter_private_etc() -> str | None:
    """Put this test process in its own mount namespace whose ``/etc`` is a throwaway overlay.

    For tests that create, change and delete real accounts (``useradd``, ``groupadd``):
    what they write lands in a temporary upper directory, never in the machine's own
    ``/etc``, and vanishes with the process. Call it while the process has one thread
    (from a ``conftest.py`` at import time): a mount namespace belongs to the thread that
    made it and to the threads and children started after. Idempotent.

    :returns: ``None`` when ``/etc`` is private, else why it could not be made so (a test
        that changes accounts must then skip with that reason, see :func:`private_etc`).
    """
    if "error" in _PRIVATE_ETC:
        return _PRIVATE_ETC["error"]
    import atexit
    import ctypes
    import tempfile
    import threading

    def fail(reason: str) -> str:
        _PRIVATE_ETC["error"] = reason
        return reason

    if threading.active_count() != 1:
        return fail(f"{threading.active_count()} threads already run; a private /etc needs a single-threaded start")
    libc = ctypes.CDLL(None, use_errno=True)
    clone_newns, ms_rec, ms_private = 0x00020000, 0x4000, 1 << 18
    # An fd on the real /etc, kept open: tests read the machine's own files through it.
    host_etc = os.open("/etc", os.O_RDONLY | os.O_DIRECTORY)
    if libc.unshare(clone_newns) != 0:
        os.close(host_etc)
        return fail(f"unshare(CLONE_NEWNS): {os.strerror(ctypes.get_errno())}")
    if libc.mount(b"none", b"/", None, ms_rec | ms_private, None) != 0:
        return fail(f"mount --make-rprivate /: {os.strerror(ctypes.get_errno())}")
    upper = tempfile.mkdtemp(prefix="starling-etc-")
    atexit.register(shutil.rmtree, upper, True)
    os.mkdir(os.path.join(upper, "upper"))
    os.mkdir(os.path.join(upper, "work"))
    opts = f"lowerdir=/etc,upperdir={upper}/upper,workdir={upper}/work".encode()
    if libc.mount(b"overlay", b"/etc", b"overlay", 0, opts) != 0:
        return fail(f"overlay on /etc: {os.strerror(ctypes.get_errno())}")
    _PRIVATE_ETC.update(error=None, host_etc=host_etc, upper=upper)
    return None


def host_etc_text(name: str) -> str:
    """The machine's own ``/etc/<name>`` (not the private overlay), read through the kept fd."""
    fd = os.open(name, os.O_RDONLY, dir_fd=_PRIVATE_ETC["host_etc"])
    with open(fd, encoding="utf-8", errors="replace") as fh:
        return fh.read()


@pytest.fixture
def private_etc() -> str:
    """Skip unless :func:`enter_private_etc` made ``/etc`` private; else the overlay's upper dir."""
    reason = enter_private_etc() if not _PRIVATE_ETC else _PRIVATE_ETC["error"]
    if reason:
        pytest.skip(f"no private /etc for account tests ({reason}): the machine's accounts are never touched")
    return str(_PRIVATE_ETC["upper"])


RunAction = Callable[..., Any]


@pytest.fixture
def hidden_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., RunAction]:
    """``hidden_tools("dnf", "yum")`` -> a ``run_action`` on a fresh plugin host that cannot see them.

    ``PATH`` is rebuilt from links to every program on it except those named, and a new
    :class:`PluginHost` is made afterwards (availability is decided when a plugin loads), so a
    plugin's "tool missing" branch runs for real on a host that has the tool.
    """

    def hide(*names: str) -> RunAction:
        shadow = tmp_path / ("path-without-" + "-".join(names))
        shadow.mkdir(parents=True, exist_ok=True)
        for folder in os.environ.get("PATH", "").split(os.pathsep):
            if not os.path.isdir(folder):
                continue
            for entry in os.scandir(folder):
                link = shadow / entry.name
                if entry.name in names or link.exists() or not os.access(entry.path, os.X_OK):
                    continue
                link.symlink_to(entry.path)
        monkeypatch.setenv("PATH", str(shadow))
        host = PluginHost()

        async def runner(action: str, params: Any = None, **kw: Any) -> Outcome:
            kw.setdefault("state_dir", tmp_path)
            return await run_action(action, params, host=host, **kw)

        return runner

    return hide


def _inner_skip(exc: BaseException | None) -> BaseException | None:
    """The first ``pytest.skip`` with a reason inside an exception group chain."""
    todo = [exc] if exc is not None else []
    while todo:
        cur = todo.pop()
        if isinstance(cur, pytest.skip.Exception) and cur.msg:
            return cur
        if isinstance(cur, BaseExceptionGroup):
            todo.extend(cur.exceptions)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Any:
    """Keep the reason of a ``pytest.skip(reason)`` raised inside a trio test.

    pytest-trio re-raises a skip that surfaced through a nursery as a bare ``pytest.skip()``,
    which drops the reason; the summary must say why a test did not exercise its subject.
    """
    try:
        return (yield)
    except pytest.skip.Exception as exc:
        inner = None if exc.msg else _inner_skip(exc.__context__)
        if inner is not None:
            raise inner from None
        raise
