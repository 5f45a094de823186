"""The plugin SDK's surface and helpers, exercised for real: processes, sockets,
files and the executor (no mocks)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import msgspec
import pytest
import trio

import agent_core
import agent_core.host
from agent_core import (
    ActionContext,
    CancelToken,
    Stopped,
    atomic_write,
    mask_env,
    names,
    open_atomic,
    procfs,
)
from agent_core.host import PluginHost, execute
from agent_core.testing import run_action, spawned
from transports import JobSpec

HOST_NAMES = {"Kernel", "PluginHost", "LoadedPlugin", "execute", "kill_tree", "run_process", "render_catalogue",
              "render_hooks", "write_plugin_docs", "hookspec", "ENTRY_POINT_GROUP"}  # fmt: skip


def test_author_surface_has_no_host_internals():
    assert not HOST_NAMES & set(agent_core.__all__)
    assert HOST_NAMES <= set(agent_core.host.__all__)
    for name in agent_core.host.__all__:
        assert getattr(agent_core.host, name) is not None


# -- declarations are data ------------------------------------------------------------


def _module(name: str, source: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), mod.__dict__)
    return mod


SLOW = '''
"""Sleeps past its declared timeout.

A test plugin.
"""
import trio
from agent_core import ActionContext, NoParams, Plugin, Risk, action

PLUGIN = Plugin("slowpoke")
stopped = []

@action("slowpoke.sleep", risk=Risk.READ, timeout=0.3)
async def sleep(ctx: ActionContext, p: NoParams) -> None:
    """Sleep 30 s."""
    await trio.sleep(30)

def _walk(cancel):
    import time
    try:
        for _ in range(3000):
            cancel.check()
            time.sleep(0.01)
    except Exception as exc:
        stopped.append(type(exc).__name__)
        raise

@action("slowpoke.walk", risk=Risk.READ, timeout=0.3)
async def walk(ctx: ActionContext, p: NoParams) -> None:
    """Block a worker thread for 30 s, checking its cancel token."""
    await ctx.to_thread(_walk, cancellable=True)
'''


def _host_with(name: str, source: str) -> tuple[PluginHost, types.ModuleType]:
    mod = _module(f"sdk_test_{name}", source)
    host = PluginHost(group="starling.test-none")
    host.add_module(name, mod)
    return host, mod


async def test_declared_timeout_applies_and_to_thread_is_cancelled():
    host, mod = _host_with("slowpoke", SLOW)
    plugin = host.load("slowpoke")
    assert plugin.error is None and list(plugin.actions) == ["slowpoke.sleep", "slowpoke.walk"]
    assert plugin.info.description == "Sleeps past its declared timeout."
    started = time.monotonic()
    out = await run_action("slowpoke.sleep", host=host)  # no job timeout: the declared 0.3 s holds
    assert out.code == "A005" and out.result.state == "timed_out"
    out = await run_action("slowpoke.walk", host=host)
    assert out.code == "A005"
    assert time.monotonic() - started < 20  # neither waited for its 30 s
    with trio.fail_after(10):
        while not mod.stopped:
            await trio.sleep(0.02)
    assert mod.stopped == ["Stopped"]  # the abandoned thread saw its token and stopped


def test_cancel_token():
    token = CancelToken()
    token.check()
    token.cancelled = True
    with pytest.raises(Stopped):
        token.check()


def test_module_without_plugin_is_a_load_error():
    host, _ = _host_with("nodecl", '"""No PLUGIN here."""\n')
    assert "declares no PLUGIN" in (host.load("nodecl").error or "")


async def test_only_the_builtin_agent_plugin_reaches_the_kernel(tmp_path):
    source = '''
from agent_core import ActionContext, NoParams, Plugin, Risk, action
from agent_core.host import kernel_of
PLUGIN = Plugin("grabby", description="wants the kernel")

@action("grabby.grab", risk=Risk.READ, timeout=5)
async def grab(ctx: ActionContext, p: NoParams) -> str:
    """Try to take the installer."""
    kernel_of(ctx)
    return "got it"
'''
    host, _ = _host_with("grabby", source)
    kernel = agent_core.host.Kernel(host, tmp_path)
    job = JobSpec(job_id="j", action="grabby.grab", params=b"", timeout=5, deadline=time.time() + 60)
    res = await execute(host, "t-1", job, kernel=kernel)
    assert res.code == "A003" and "running agent" in res.message
    real = PluginHost()
    res = await execute(real, "t-2", JobSpec(job_id="j", action="agent.plugins", params=b"", timeout=5, deadline=time.time() + 60), kernel=agent_core.host.Kernel(real, tmp_path))
    assert res.state == "succeeded", res.message


# -- one helper each ---------------------------------------------------------------


def test_atomic_write_replaces_or_leaves_alone(tmp_path):
    target = tmp_path / "conf"
    target.write_text("old\n")
    target.chmod(0o640)
    atomic_write(str(target), "new\n")
    assert target.read_text() == "new\n" and (target.stat().st_mode & 0o777) == 0o640
    with pytest.raises(RuntimeError):
        with open_atomic(str(target)) as fh:
            fh.write(b"half")
            raise RuntimeError("checksum mismatch")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf"]  # no temporary left behind
    atomic_write(str(tmp_path / "fresh"), b"x")
    assert (tmp_path / "fresh").stat().st_mode & 0o777 == 0o644


def test_one_masker_masks_names_and_url_passwords():
    env = {"DATABASE_URL": "postgres://app:pw123@db:5432/x", "API_TOKEN": "t", "HOME": "/root", "EMPTY_SECRET": ""}
    out, masked = mask_env(env)
    assert out["DATABASE_URL"] == "postgres://app:***@db:5432/x"
    assert out["API_TOKEN"] == "***" and out["HOME"] == "/root" and out["EMPTY_SECRET"] == ""
    assert masked == ["API_TOKEN", "DATABASE_URL"]


@pytest.fixture
def child():
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": "postgres://app:pw123@db:5432/x"}
    proc = spawned(["sleep", "60"], env=env)
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("source", ["process", "agent", "command"])
async def test_environment_actions_mask_url_passwords(child, monkeypatch, source):
    monkeypatch.setenv("DATABASE_URL", "postgres://app:pw123@db:5432/x")
    params = {"process": {"pid": child.pid}, "agent": {}, "command": {"command": True}}[source]
    out = await run_action("proc.environ", params)
    assert out.ok, out.message
    assert out.value["variables"]["DATABASE_URL"] == "postgres://app:***@db:5432/x"
    assert "pw123" not in repr(out.value) and "DATABASE_URL" in out.value["masked"]


def test_pgrep_by_name_and_by_regex(child):
    assert child.pid in [p.pid for p in procfs.pgrep(name="sleep")]
    hits = procfs.pgrep(re.compile(r"^sleep 60$"))
    assert child.pid in [p.pid for p in hits]
    assert os.getpid() not in [p.pid for p in procfs.pgrep(re.compile("pytest|python"))]


async def test_one_socket_reader_for_every_plugin():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        rows = [r for r in procfs.read_sockets(("tcp",)) if r.lport == port]
        assert len(rows) == 1 and rows[0].listening and rows[0].local == "127.0.0.1"
        assert procfs.socket_owners()[rows[0].inode][0] == os.getpid()
        out = await run_action("sec.ports", {"udp": False})
        assert any(x["port"] == port and x["pid"] == os.getpid() for x in out.value["listeners"])
        out = await run_action("net.sockets", {"port": port})
        assert [(s["inode"], s["pid"]) for s in out.value["sockets"]] == [(rows[0].inode, os.getpid())]
        out = await run_action("proc.openfiles", {"pid": os.getpid(), "kinds": ["socket"]})
        assert out.ok, out.message
        assert f"127.0.0.1:{port}" in repr(out.value)


async def test_run_with_c_locale(monkeypatch):
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    ctx = ActionContext(task=agent_core.TaskInfo(task_id="t", job_id="j", action="x.y"))
    res = await ctx.run(["/bin/sh", "-c", 'echo "$LC_ALL $LANG $HOME"'], c_locale=True)
    assert res.stdout.split() == ["C", "C", os.environ["HOME"]]
    res = await ctx.run(["/bin/sh", "-c", 'echo "$LC_ALL"'], env={"PATH": "/bin"}, c_locale=True)
    assert res.stdout.strip() == "C"


def test_names_are_types_with_their_constraint_in_the_schema():
    class P(msgspec.Struct):
        unit: names.Unit
        user: names.UserNew

    assert msgspec.convert({"unit": "nginx.service", "user": "deploy"}, P).unit == "nginx.service"
    for bad in ({"unit": "-nginx", "user": "deploy"}, {"unit": "nginx", "user": "Root!"}):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(bad, P)
    schema = msgspec.json.schema(P)
    assert schema["$defs"]["P"]["properties"]["unit"]["pattern"] == names.UNIT
    with pytest.raises(agent_core.InvalidParams) as err:
        names.unit("a b")
    assert err.value.code.value == "A002" and "unit" in str(err.value)


def test_sdk_modules_import_light():
    # An author's `import agent_core` must not load the host side or the docs renderers.
    code = "import sys, agent_core, agent_core.procfs, agent_core.names; print(sorted(m for m in sys.modules if m.startswith('agent_core')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    loaded = set(eval(out.stdout))
    assert not {"agent_core._catalogue", "agent_core._kernel", "agent_core._executor", "agent_core._scaffold"} & loaded
