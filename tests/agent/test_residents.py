"""The resident supervisor against real processes: a tiny HTTP server script that
a test plugin declares as its resident is killed, made sick, made fat and made
busy, and the supervisor restarts or renices it; stopping kills every tree."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import trio

from agent_core import Plugin, Resident, hookimpl
from agent_core._residents import ResidentSupervisor, parse_health_url, probe_http
from agent_core.host import PluginHost
from transports import free_port

SERVER = r'''
import http.server, os, pathlib, sys, time
port, control = int(sys.argv[1]), pathlib.Path(sys.argv[2])
hog = []
print("started", os.getpid(), flush=True)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        mode = control.read_text().strip() if control.exists() else "ok"
        if mode == "grow":
            hog.append(bytearray(os.urandom(1)) * (120 * 2**20))
        if mode == "sick":
            self.send_response(500)
        else:
            self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
'''

FAST = dict(check_interval=0.2, check_timeout=1.0, check_failures=2, start_grace=10.0, backoff_min=0.1, backoff_max=0.4)


def _plugin(name: str, residents: Callable[[], list[Resident]]) -> types.ModuleType:
    """A plugin module made on the fly: declaration, no actions, residents."""
    mod = types.ModuleType(f"test_plugin_{name}")
    mod.PLUGIN = Plugin(name, description="test residents")  # type: ignore[attr-defined]

    @hookimpl
    def starling_residents() -> list[Resident]:
        return residents()

    mod.starling_residents = starling_residents  # type: ignore[attr-defined]
    return mod


def _supervisor(tmp_path: Path, name: str, residents: Callable[[], list[Resident]]) -> ResidentSupervisor:
    host = PluginHost(group="starling.test-none")
    host.add_module(name, _plugin(name, residents))
    return ResidentSupervisor(host, tmp_path / "state", plugins=[name])


async def _wait(sup: ResidentSupervisor, key: str, pred: Callable[[str], bool], seconds: float = 30) -> str:
    with trio.fail_after(seconds):
        while True:
            line = sup.status().get(key, "")
            if pred(line):
                return line
            await trio.sleep(0.05)


async def _until(pred: Callable[[], bool], seconds: float = 20) -> None:
    with trio.fail_after(seconds):
        while True:
            if pred():
                return
            await trio.sleep(0.05)


def _pid(line: str) -> int:
    return int(line.split("pid ")[1].split()[0])


@pytest.fixture
def server(tmp_path: Path) -> tuple[Path, Path, int]:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    return script, tmp_path / "control", free_port()


def _web(server: tuple[Path, Path, int], **kw: object) -> Resident:
    script, control, port = server
    opts = {**FAST, **kw}
    return Resident(
        name="demo.web",
        argv=[sys.executable, str(script), str(port), str(control)],
        health_url=f"http://127.0.0.1:{port}/health",
        **opts,  # type: ignore[arg-type]
    )


async def test_killed_resident_is_restarted(tmp_path, server):
    sup = _supervisor(tmp_path, "demo", lambda: [_web(server)])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        line = await _wait(sup, "demo.web", lambda s: s.startswith("running pid"))
        first = _pid(line)
        assert line == f"running pid {first} restarts 0"
        os.kill(first, signal.SIGKILL)
        line = await _wait(sup, "demo.web", lambda s: s.startswith("running pid") and "restarts 1" in s)
        second = _pid(line)
        assert second != first and psutil.pid_exists(second)
        assert "killed by signal 9" in line
        # The status file mirrors status() for the plugins' own actions.
        state = tmp_path / "state" / "residents"
        assert json.loads((state / "status.json").read_text())["demo.web"] == sup.status()["demo.web"]
        # stdout went to the resident's log, the pid file names the live process.
        out = (state / "demo.web" / "out.log").read_text()
        assert f"started {first}" in out and f"started {second}" in out
        assert (state / "demo.web" / "pid").read_text().split()[0] == str(second)
        nursery.cancel_scope.cancel()
    assert not psutil.pid_exists(second) or psutil.Process(second).status() == psutil.STATUS_ZOMBIE
    assert not (tmp_path / "state" / "residents" / "demo.web" / "pid").exists()


async def test_failed_health_check_restarts(tmp_path, server):
    _, control, _ = server
    sup = _supervisor(tmp_path, "demo", lambda: [_web(server)])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        first = _pid(await _wait(sup, "demo.web", lambda s: s.startswith("running pid")))
        control.write_text("sick")
        line = await _wait(sup, "demo.web", lambda s: "health check failed" in s)
        assert "HTTP 500" in line and "restarts 1" in line
        assert not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE
        # A restarted resident that is still sick never reaches "running".
        assert not sup.status()["demo.web"].startswith("running")
        control.write_text("ok")
        line = await _wait(sup, "demo.web", lambda s: s.startswith("running pid"))
        assert _pid(line) != first
        nursery.cancel_scope.cancel()


async def test_rss_limit_restarts(tmp_path, server):
    _, control, _ = server
    sup = _supervisor(tmp_path, "demo", lambda: [_web(server, max_rss_mb=80)])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        first = _pid(await _wait(sup, "demo.web", lambda s: s.startswith("running pid")))
        assert psutil.Process(first).memory_info().rss < 80 * 2**20
        control.write_text("grow")  # the next health probe makes it allocate 120 MB
        line = await _wait(sup, "demo.web", lambda s: "over max_rss_mb 80" in s)
        assert "restarts 1" in line
        assert not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE
        nursery.cancel_scope.cancel()


async def test_busy_resident_is_reniced(tmp_path):
    busy = Resident(name="demo.busy", argv=[sys.executable, "-c", "while True: pass"], cpu_percent=20, **FAST)  # type: ignore[arg-type]
    sup = _supervisor(tmp_path, "demo", lambda: [busy])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        line = await _wait(sup, "demo.busy", lambda s: s.endswith("niced"))
        pid = _pid(line)
        assert os.getpriority(os.PRIO_PROCESS, pid) == 19
        nursery.cancel_scope.cancel()


async def test_stop_kills_every_tree(tmp_path):
    pids = tmp_path / "pids"
    # A resident with a child in its group and a grandchild that escaped into its own session.
    script = f"sleep 300 & echo $! >> {pids}; setsid sleep 300 & echo $! >> {pids}; echo $$ >> {pids}; wait"
    res = Resident(name="demo.tree", argv=["/bin/sh", "-c", script], **FAST)  # type: ignore[arg-type]
    sup = _supervisor(tmp_path, "demo", lambda: [res])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await _wait(sup, "demo.tree", lambda s: s.startswith("running"))
        await _until(lambda: pids.exists() and len(pids.read_text().split()) >= 3)
        alive = [int(p) for p in pids.read_text().split()]
        assert all(psutil.pid_exists(p) for p in alive)
        nursery.cancel_scope.cancel()
    await trio.sleep(0.2)
    for pid in alive:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, pid


@pytest.fixture
def sleepers() -> Iterator[tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    procs = [subprocess.Popen(["/bin/sleep", "300"], start_new_session=True) for _ in range(2)]
    yield procs[0], procs[1]
    for proc in procs:
        proc.kill()
        proc.wait()


async def test_leftover_tree_of_a_dead_agent_is_killed(tmp_path, sleepers):
    res = Resident(name="demo.idle", argv=["/bin/sleep", "300"], **FAST)  # type: ignore[arg-type]
    directory = tmp_path / "state" / "residents" / "demo.idle"
    directory.mkdir(parents=True)
    leftover, stranger = sleepers
    created = psutil.Process(leftover.pid).create_time()
    (directory / "pid").write_text(f"{leftover.pid} {created}\n")
    sup = _supervisor(tmp_path, "demo", lambda: [res])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await _wait(sup, "demo.idle", lambda s: s.startswith("running"))
        assert leftover.wait(timeout=5) == -signal.SIGKILL
        nursery.cancel_scope.cancel()
    # A recorded pid whose start time differs is someone else's process now: untouched.
    (directory / "pid").write_text(f"{stranger.pid} {created - 1000}\n")
    sup = _supervisor(tmp_path, "demo", lambda: [res])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await _wait(sup, "demo.idle", lambda s: s.startswith("running"))
        assert stranger.poll() is None
        nursery.cancel_scope.cancel()


async def test_backoff_is_capped_and_bad_declarations_refused(tmp_path):
    residents = [
        Resident(name="demo.missing", argv=["/no/such/program"], **FAST),  # type: ignore[arg-type]
        Resident(name="other.name", argv=["/bin/true"]),
        Resident(name="demo.remote", argv=["/bin/true"], health_url="http://192.0.2.1:80/"),
        Resident(name="demo.noport", argv=["/bin/true"], health_url="http://127.0.0.1/"),
        Resident(name="demo.empty", argv=[]),
    ]
    sup = _supervisor(tmp_path, "demo", lambda: residents)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        line = await _wait(sup, "demo.missing", lambda s: "restarts 4" in s)
        assert line.startswith("backoff") and "cannot start: /no/such/program not found" in line
        # Jittered doubling, capped at backoff_max (0.4 s) whatever the jitter.
        assert float(line.split()[1].rstrip("s")) <= 0.4
        status = sup.status()
        assert status["other.name"] == "refused: resident name must start with 'demo.'"
        assert "must be loopback" in status["demo.remote"]
        assert "give the port" in status["demo.noport"]
        assert status["demo.empty"] == "refused: empty argv"
        nursery.cancel_scope.cancel()


async def test_residents_hook_errors_and_disabled_plugins(tmp_path):
    def broken() -> list[Resident]:
        raise RuntimeError("bad config")

    sup = _supervisor(tmp_path, "demo", broken)
    sup.discover()
    assert sup.status() == {"demo": "refused: starling_residents raised RuntimeError: bad config"}
    sup = _supervisor(tmp_path, "demo", lambda: ["not a Resident"])  # type: ignore[list-item]
    assert sup.discover() == []
    assert sup.status() == {"demo": "refused: starling_residents must return a list of Resident"}
    host = PluginHost(group="starling.test-none", disabled={"demo"})
    host.add_module("demo", _plugin("demo", lambda: [Resident(name="demo.x", argv=["/bin/true"])]))
    sup = ResidentSupervisor(host, tmp_path / "s2", plugins=["demo"])
    assert sup.discover() == [] and sup.status() == {}


async def test_logs_are_rotated(tmp_path):
    chatter = "import sys, time\nfor _ in range(3000): print('x' * 999)\nsys.stdout.flush(); time.sleep(300)"
    res = Resident(name="demo.chatty", argv=[sys.executable, "-c", chatter], log_max_bytes=200_000, **FAST)  # type: ignore[arg-type]
    sup = _supervisor(tmp_path, "demo", lambda: [res])
    logdir = tmp_path / "state" / "residents" / "demo.chatty"
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await _until((logdir / "out.log.1").exists)
        await trio.sleep(1.5)  # at least one more tick after the writer is done
        nursery.cancel_scope.cancel()
    # 3 MB were written; what is kept is bounded by the cap (plus one tick of writes).
    assert (logdir / "out.log.1").stat().st_size > 200_000
    assert (logdir / "out.log").stat().st_size <= 200_000


async def test_probe_http_answers():
    codes = {"/ok": 204, "/bad": 503}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/garbage":
                self.wfile.write(b"SSH-2.0-nope\r\n")
                return
            self.send_response(codes.get(self.path, 404))
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    port = srv.server_address[1]
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        assert await probe_http(f"http://127.0.0.1:{port}/ok") == (True, "HTTP 204")
        assert await probe_http(f"http://localhost:{port}/bad") == (False, "HTTP 503")
        ok, detail = await probe_http(f"http://127.0.0.1:{port}/garbage")
        assert not ok and "not an HTTP answer" in detail
    finally:
        srv.shutdown()
        srv.server_close()
    ok, detail = await probe_http(f"http://127.0.0.1:{free_port()}/")
    assert not ok and detail.startswith("connect:")
    for bad in ("https://127.0.0.1:1/", "http://10.0.0.1:80/", "http://127.0.0.1:99999/"):
        with pytest.raises(ValueError):
            parse_health_url(bad)


async def test_reload_converges_without_restarting_others(tmp_path):
    declared = [Resident(name="demo.a", argv=["/bin/sleep", "300"], **FAST)]  # type: ignore[arg-type]
    host = PluginHost(group="starling.test-none")
    host.add_module("demo", _plugin("demo", lambda: list(declared)))
    sup = ResidentSupervisor(host, tmp_path / "state", plugins=["demo"])
    sup.discover()
    assert sup.reload() == {"started": [], "stopped": []}  # not running: forgets, run() re-reads
    assert sup.status() == {}
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        a = _pid(await _wait(sup, "demo.a", lambda s: s.startswith("running")))
        declared.append(Resident(name="demo.b", argv=["/bin/sleep", "301"], **FAST))  # type: ignore[arg-type]
        assert sup.reload() == {"started": ["demo.b"], "stopped": []}
        b = _pid(await _wait(sup, "demo.b", lambda s: s.startswith("running")))
        assert _pid(sup.status()["demo.a"]) == a  # untouched
        # A changed declaration restarts that resident only; a removed one is stopped.
        declared[:] = [Resident(name="demo.b", argv=["/bin/sleep", "302"], **FAST)]  # type: ignore[arg-type]
        assert sup.reload() == {"started": ["demo.b"], "stopped": ["demo.a", "demo.b"]}
        b2 = _pid(await _wait(sup, "demo.b", lambda s: s.startswith("running")))
        assert b2 != b and "demo.a" not in sup.status()
        await _until(lambda: not psutil.pid_exists(a) and not psutil.pid_exists(b))
        # Disabling the plugin stops everything it declared.
        host.disabled.add("demo")
        assert sup.reload() == {"started": [], "stopped": ["demo.b"]}
        await _until(lambda: not psutil.pid_exists(b2))
        assert sup.status() == {}
        nursery.cancel_scope.cancel()


SUPERVISOR = """
import sys
from pathlib import Path
import trio
sys.path.insert(0, sys.argv[1])
from agent_core.host import PluginHost
from agent_core._residents import ResidentSupervisor
host = PluginHost(group="starling.test-none")
host.add_module("demo", "demo_plugin")
trio.run(ResidentSupervisor(host, Path(sys.argv[2]), plugins=["demo"]).run)
"""

DEMO_PLUGIN = """
from agent_core import Plugin, Resident, hookimpl

PLUGIN = Plugin("demo", description="test")

@hookimpl
def starling_residents():
    return [Resident(name="demo.idle", argv=["/bin/sleep", "300"])]
"""


@pytest.fixture
def doomed_supervisor(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    (tmp_path / "demo_plugin.py").write_text(DEMO_PLUGIN)
    proc = subprocess.Popen([sys.executable, "-c", SUPERVISOR, str(tmp_path), str(tmp_path / "state")])
    yield proc, tmp_path / "state" / "residents" / "demo.idle" / "pid"
    proc.kill()
    proc.wait()


async def test_residents_die_with_a_killed_agent(doomed_supervisor):
    """kill -9 of the agent leaves no resident behind (PR_SET_PDEATHSIG)."""
    supervisor, pidfile = doomed_supervisor
    await _until(lambda: pidfile.exists() and psutil.Process(int(pidfile.read_text().split()[0])).name() == "sleep")
    resident = psutil.Process(int(pidfile.read_text().split()[0]))
    assert resident.cmdline() == ["/bin/sleep", "300"] and resident.ppid() == supervisor.pid
    supervisor.kill()
    await _until(lambda: not resident.is_running() or resident.status() == psutil.STATUS_ZOMBIE, 10)
