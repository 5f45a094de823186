"""The task guardian: nothing a child starts outlives the child's task, timeout or agent.

Every test runs twice: with guardians forked by the agent's guardian server (the
usual way) and with guardians started as interpreters of their own (the PTY path,
and hosts without pidfds). Real processes only (harmless ``sleep``\\ s); each test
looks processes up by PID and start time, so a recycled PID is never mistaken for a
survivor.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import trio

from agent_core import _guardserver
from agent_core._journal import Journal
from agent_core._runner import (
    TASK_LABEL,
    guardian_available,
    guardians,
    interrupted_outcome,
    run_process,
    task_label,
)
from agent_core._sdk import ActionError
from transports import ErrorCode

pytestmark = pytest.mark.skipif(not guardian_available(), reason="the task guardian needs Linux and cffi")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, params=["forked", "direct"])
def mode(request, monkeypatch):
    """How guardians start: forked by the guardian server, or as their own interpreter.
    Each test gets a server of its own (a test that kills servers may leave the last one
    cooling down)."""
    if request.param == "forked" and not _guardserver._pidfds_work():
        pytest.skip("no guardian server here: this kernel has no pidfds (Linux < 5.3)")
    monkeypatch.setattr(_guardserver, "ENABLED", request.param == "forked")
    monkeypatch.setattr(_guardserver, "_server", None)
    yield request.param
    if _guardserver._server is not None:
        _guardserver._server.close()

#: A harmless tree; every pid it starts is written into DIR.
TREE = (
    "echo $$ > {d}/sh.pid; "
    "sleep 300 & echo $! > {d}/background.pid; "
    "setsid sh -c 'sleep 300 & echo $! > {d}/escaped.pid'; "
    "sleep 300"
)
NAMES = ("sh.pid", "background.pid", "escaped.pid")


def _running(pid: int, created: float) -> bool:
    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - created) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _snapshot(d: Path, timeout: float = 10) -> dict[int, float]:
    """The task's tree (guardian included) once all its pids are written."""
    end = time.monotonic() + timeout
    while not all((d / n).exists() and (d / n).read_text().strip() for n in NAMES):
        assert time.monotonic() < end, "the tree did not start"
        time.sleep(0.05)
    time.sleep(0.2)
    guardian = psutil.Process(psutil.Process(int((d / "sh.pid").read_text())).ppid())
    assert "_guardian.py" in " ".join(guardian.cmdline())
    tree = {p.pid: p.create_time() for p in [guardian, *guardian.children(recursive=True)]}
    assert all(int((d / n).read_text()) in tree for n in NAMES), "a process escaped the guardian's tree"
    return tree


def _alive_after(tree: dict[int, float], seconds: float) -> list[int]:
    end = time.monotonic() + seconds
    while True:
        alive = [pid for pid, created in tree.items() if _running(pid, created)]
        if not alive or time.monotonic() > end:
            return alive
        time.sleep(0.05)


def _kill_all(tree: dict[int, float]) -> None:
    for pid, created in tree.items():
        if _running(pid, created):
            os.kill(pid, signal.SIGKILL)


async def test_status_output_and_input_pass_through():
    res = await run_process(["sh", "-c", "cat; echo err >&2; exit 3"], input=b"in\n")
    assert (res.exit_code, res.stdout, res.stderr, res.signal) == (3, "in\n", "err\n", 0)
    res = await run_process(["sh", "-c", "kill -TERM $$"])
    assert (res.exit_code, res.signal) == (143, 15)


async def test_exec_failures_keep_their_codes(tmp_path):
    with pytest.raises(ActionError, match="not found") as exc:
        await run_process([str(tmp_path / "no-such-program")])
    assert exc.value.code is ErrorCode.A009
    plain = tmp_path / "not-executable"
    plain.write_text("#!/bin/sh\n")
    with pytest.raises(ActionError, match="permission denied") as exc:
        await run_process([str(plain)])
    assert exc.value.code is ErrorCode.A009


async def test_background_jobs_attached_to_the_output_end_with_the_command(tmp_path):
    """A background job still holding the task's output belongs to the task;
    a daemon that detached (output redirected, as init scripts do) stays."""
    res = await run_process(["sh", "-c", (
        f"sleep 300 & echo $! > {tmp_path}/attached; "
        f"setsid sh -c 'sleep 300 & echo $! > {tmp_path}/escaped'; "
        f"sleep 300 >/dev/null 2>&1 & echo $! > {tmp_path}/daemon"
    )])
    pids = {name: int((tmp_path / name).read_text()) for name in ("attached", "escaped", "daemon")}
    try:
        assert res.exit_code == 0
        daemon = psutil.Process(pids["daemon"])
        assert daemon.status() != psutil.STATUS_ZOMBIE and "sleep" in daemon.name()
        for name in ("attached", "escaped"):
            try:
                proc = psutil.Process(pids[name])
            except psutil.NoSuchProcess:
                continue
            assert proc.status() == psutil.STATUS_ZOMBIE or "sleep" not in proc.name(), f"{name} outlived its command"
    finally:
        try:
            psutil.Process(pids["daemon"]).kill()  # our own daemon, started just above
        except psutil.NoSuchProcess:
            pass


async def test_a_timeout_kills_the_whole_tree(tmp_path):
    tree: dict[int, float] = {}
    with trio.move_on_after(10) as timer:
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                tree.update(await trio.to_thread.run_sync(_snapshot, tmp_path))
                nursery.cancel_scope.cancel()  # the "timeout", once the tree is complete

            nursery.start_soon(watch)
            await run_process(["sh", "-c", TREE.format(d=tmp_path)])
    assert not timer.cancelled_caught and tree
    try:
        assert _alive_after(tree, 0.0) == [], "processes ran past the timeout"
    finally:
        _kill_all(tree)


def _spawn_runner(tmp_path: Path, label: str, mode: str) -> subprocess.Popen[bytes]:
    """A stand-in agent: a process that runs the tree through run_process."""
    script = tmp_path / "runner.py"
    script.write_text(
        "import sys, trio\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from agent_core import _guardserver\n"
        "from agent_core._runner import TASK_LABEL, run_process\n"
        f"_guardserver.ENABLED = {mode == 'forked'}\n"
        f"TASK_LABEL.set({label!r})\n"
        f"trio.run(run_process, ['sh', '-c', {TREE.format(d=tmp_path)!r}])\n"
    )
    return subprocess.Popen([sys.executable, str(script)])


def test_kill_9_of_the_parent_kills_the_whole_tree(tmp_path, mode):
    runner = _spawn_runner(tmp_path, "x", mode)
    try:
        tree = _snapshot(tmp_path)
        runner.kill()
        runner.wait()
        alive = _alive_after(tree, 5)
        assert alive == [], f"processes outlived their agent: {alive}"
    finally:
        runner.kill()
        _kill_all(tree if "tree" in locals() else {})


def test_a_restarted_agent_kills_a_surviving_tree(tmp_path, mode):
    """A guardian that could not act (stopped here) is found by its label and killed."""
    label = task_label(tmp_path, "t-1")
    runner = _spawn_runner(tmp_path, label, mode)
    tree: dict[int, float] = {}
    try:
        tree = _snapshot(tmp_path)
        (guardian,) = guardians(label)
        guardian.suspend()  # it cannot notice its agent's death now
        runner.kill()
        runner.wait()
        time.sleep(0.3)
        assert len(_alive_after(tree, 0.0)) == len(tree)
        code, message = interrupted_outcome(tmp_path, "t-1")
        assert code is ErrorCode.A007 and "outlived the agent" in message, message
        assert _alive_after(tree, 5) == []
        # Nothing left: the next restart reports the tree killed with its agent.
        code, message = interrupted_outcome(tmp_path, "t-1")
        assert code is ErrorCode.A020 and "killed with the agent" in message
    finally:
        runner.kill()
        _kill_all(tree)


async def test_the_label_follows_the_task(tmp_path, mode):
    label = task_label(tmp_path, "t-2")
    token = TASK_LABEL.set(label)
    try:
        res = await run_process(["sh", "-c", "echo $PPID; cat /proc/$PPID/comm; cat /proc/$PPID/cmdline | tr '\\0' ' '"])
    finally:
        TASK_LABEL.reset(token)
    guardian, name, cmdline = res.stdout.splitlines()
    if mode == "forked":
        assert name == _guardserver.guardian_name(label).decode() and label not in cmdline
    else:
        assert f"{label} --" in cmdline
    # What a restarted agent looks for finds this guardian while it runs, and no other.
    token = TASK_LABEL.set(label)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_process, ["sleep", "30"])
            for _ in range(200):
                found = await trio.to_thread.run_sync(guardians, label)
                if found and found[0].children():  # a direct guardian shows before its child
                    break
                await trio.sleep(0.02)
            assert len(found) == 1 and found[0].children()[0].name() == "sleep"
            assert guardians(task_label(tmp_path, "t-3")) == []
            nursery.cancel_scope.cancel()
    finally:
        TASK_LABEL.reset(token)


def test_journal_epoch_is_kept_and_renewed_with_the_journal(tmp_path):
    path = tmp_path / "journal.db"
    before = time.time()
    first = Journal(path)
    epoch = first.epoch
    first.close()
    assert before <= epoch <= time.time()
    again = Journal(path)
    assert again.epoch == epoch, "reopening must keep the epoch"
    again.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    time.sleep(0.01)
    fresh = Journal(path)
    assert fresh.epoch > epoch, "a lost journal comes back with a new epoch"
    fresh.close()


async def test_the_childs_environment_directory_and_niceness(tmp_path):
    """The program is looked up in the child's PATH, not the agent's; cwd and nice apply."""
    tool = tmp_path / "only-here"
    tool.write_text("#!/bin/sh\necho \"$FOO in $(pwd) at $(nice)\"\n")
    tool.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "FOO": "bar"}
    res = await run_process(["only-here"], env=env, cwd="/", nice=3)
    assert (res.exit_code, res.stdout) == (0, "bar in / at 3\n")
    with pytest.raises(ActionError, match="not found"):
        await run_process(["only-here"], env={"PATH": "/usr/bin:/bin"})


async def test_concurrent_children_keep_their_own_output():
    results: dict[int, str] = {}

    async def one(i: int) -> None:
        res = await run_process(["sh", "-c", f"sleep 0.0{i % 5}; echo {i}; exit {i % 7}"])
        assert res.exit_code == i % 7
        results[i] = res.stdout

    async with trio.open_nursery() as nursery:
        for i in range(30):
            nursery.start_soon(one, i)
    assert results == {i: f"{i}\n" for i in range(30)}


def _server_pid() -> int:
    server = _guardserver.guard_server()
    assert server is not None and server._proc is not None
    return server._proc.pid


@pytest.mark.parametrize("mode", ["forked"], indirect=True)  # only forked guardians have a server
async def test_a_dead_guardian_server_is_replaced_and_nothing_runs_twice(tmp_path, mode):
    log = tmp_path / "runs"
    await run_process(["sh", "-c", f"echo a >> {log}"])
    first = _server_pid()
    os.kill(first, signal.SIGKILL)
    res = await run_process(["sh", "-c", f"echo b >> {log}; echo ok"])
    assert res.stdout == "ok\n"
    assert _server_pid() != first
    assert log.read_text() == "a\nb\n", "a command ran twice or not at all"
    assert _guardserver.guard_server().failures == 0


@pytest.mark.parametrize("mode", ["forked"], indirect=True)  # only forked guardians have a server
async def test_a_task_outlives_its_guardian_server(tmp_path, mode):
    """The server only forks: a guardian whose server dies still runs its command to
    the end and reports its status."""
    await run_process(["true"])
    server = _server_pid()

    async def kill_server() -> None:
        await trio.sleep(0.3)
        os.kill(server, signal.SIGKILL)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(kill_server)
        res = await run_process(["sh", "-c", "sleep 0.8; echo done; exit 4"])
    assert (res.exit_code, res.stdout) == (4, "done\n")


@pytest.mark.parametrize("mode", ["forked"], indirect=True)  # only forked guardians have a server
async def test_a_hung_guardian_server_is_replaced(monkeypatch, mode):
    monkeypatch.setattr(_guardserver, "REQUEST_TIMEOUT", 1.0)
    await run_process(["true"])
    server = _server_pid()
    os.kill(server, signal.SIGSTOP)
    try:
        res = await run_process(["sh", "-c", "echo ok"])
        assert res.stdout == "ok\n" and _server_pid() != server
    finally:
        try:
            os.kill(server, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("mode", ["forked"], indirect=True)  # only forked guardians have a server
def test_the_guardian_server_ends_with_its_agent(tmp_path, mode):
    runner = _spawn_runner(tmp_path, "x", mode)
    tree: dict[int, float] = {}
    try:
        tree = _snapshot(tmp_path)
        (server,) = [p for p in psutil.Process(runner.pid).children() if "--serve" in p.cmdline()]
        guardian = psutil.Process(psutil.Process(int((tmp_path / "sh.pid").read_text())).ppid())
        assert guardian.ppid() == server.pid
        created = server.create_time()
        runner.kill()
        runner.wait()
        assert _alive_after({server.pid: created, **tree}, 5) == []
    finally:
        runner.kill()
        _kill_all(tree)


@pytest.mark.parametrize("mode", ["forked"], indirect=True)  # only forked guardians have a server
async def test_an_idle_guardian_server_ends_and_the_next_child_starts_another(monkeypatch, mode):
    monkeypatch.setattr(_guardserver, "IDLE_SECONDS", 0.3)
    _guardserver.guard_server().close()  # the next child starts a server with the short idle time
    await run_process(["true"])
    server = psutil.Process(_server_pid())
    with trio.fail_after(10):
        while server.is_running() and server.status() != psutil.STATUS_ZOMBIE:
            await trio.sleep(0.05)
    res = await run_process(["sh", "-c", "echo again"])
    assert res.stdout == "again\n" and _guardserver.guard_server().failures == 0


@pytest.mark.parametrize("mode", ["forked"], indirect=True)  # only forked guardians have a server
async def test_a_server_that_ends_idle_as_a_request_comes_is_no_failure(monkeypatch, caplog, mode):
    """The server's idle time can run out just as the agent sends a request: that is no
    failure (nothing is counted or logged as one), and the request goes to a new server."""
    monkeypatch.setattr(_guardserver, "IDLE_SECONDS", 0.3)
    server = _guardserver.guard_server()
    server.close()
    await run_process(["true"])
    first = psutil.Process(_server_pid())
    with trio.fail_after(10):
        while first.status() != psutil.STATUS_ZOMBIE:  # ended, not yet reaped: as in the race
            await trio.sleep(0.05)
    real_poll, polls = server._proc.poll, []

    def poll_late():  # the agent's check before sending still saw it running
        polls.append(1)
        return None if len(polls) == 1 else real_poll()

    monkeypatch.setattr(server._proc, "poll", poll_late)
    with caplog.at_level("DEBUG", logger="starling.agent"):
        res = await run_process(["sh", "-c", "echo ok"])
    assert res.stdout == "ok\n" and _server_pid() != first.pid
    assert "ended idle" in caplog.text and "guardian server failed" not in caplog.text


async def test_no_descriptor_is_left_behind(tmp_path):
    """Finished, failed and cancelled children leave no pipe, pidfd or socket open."""
    await run_process(["true"])  # the server's socket, once

    def count() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = count()
    for i in range(30):
        await run_process(["sh", "-c", f"echo {i}; echo err >&2"], input=b"x" if i % 2 else None)
        with pytest.raises(ActionError):
            await run_process([str(tmp_path / "missing")])
        with trio.move_on_after(0.05):
            await run_process(["sleep", "5"])
    assert count() == before


@pytest.mark.parametrize("mode", ["forked"], indirect=True)  # only forked guardians have a server
async def test_killing_servers_during_a_burst_runs_every_command_exactly_once(tmp_path, mode):
    """60 concurrent children while their guardian server is killed again and again:
    every command runs once — never twice, never lost — and reports its own status."""
    runs = tmp_path / "runs"
    results: dict[int, tuple[int, str]] = {}
    await run_process(["true"])
    kills = 0

    async def one(i: int) -> None:
        res = await run_process(["sh", "-c", f"echo {i} >> {runs}; sleep 0.2; echo {i}; exit {i % 5}"])
        results[i] = (res.exit_code, res.stdout)

    async def killer() -> None:
        nonlocal kills
        for _ in range(8):
            await trio.sleep(0.03)
            server = _guardserver.guard_server()
            if server is not None and server._proc is not None and server._proc.poll() is None:
                os.kill(server._proc.pid, signal.SIGKILL)
                kills += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(killer)
        for i in range(60):
            nursery.start_soon(one, i)
            await trio.sleep(0.005)
    assert kills >= 3
    assert results == {i: (i % 5, f"{i}\n") for i in range(60)}
    lines = runs.read_text().split()
    assert sorted(lines, key=int) == [str(i) for i in range(60)], "a command ran twice or not at all"


@pytest.mark.parametrize("mode", ["forked"], indirect=True)  # only forked guardians have a server
async def test_servers_that_keep_failing_are_left_alone_for_a_while(tmp_path, monkeypatch, caplog, mode):
    """Three servers that die at once: the agent starts guardians itself (children still
    run, once each), then tries a server again after the cooldown."""
    real = _guardserver.GUARDIAN
    broken = tmp_path / "_guardian.py"
    broken.write_text("raise SystemExit(3)\n")  # a server that dies before it answers
    monkeypatch.setattr(_guardserver, "GUARDIAN", broken)
    monkeypatch.setattr(_guardserver, "COOLDOWN_SECONDS", 1.0)
    server = _guardserver.guard_server()
    server.close()
    with caplog.at_level("WARNING", logger="starling.agent"):
        res = await run_process(["sh", "-c", "echo direct; cat /proc/$PPID/cmdline | tr '\\0' ' '"])
    assert res.stdout.startswith("direct\n") and " -- sh -c " in res.stdout  # a directly started guardian
    assert "3 times in a row" in caplog.text and _guardserver.guard_server() is None
    monkeypatch.setattr(_guardserver, "GUARDIAN", real)
    await trio.sleep(1.1)
    res = await run_process(["sh", "-c", "cat /proc/$PPID/comm"])
    assert res.stdout.startswith("stg-") and _guardserver.guard_server().failures == 0


@pytest.mark.parametrize("mode", ["forked"], indirect=True)  # only forked guardians have a server
async def test_an_answer_that_comes_as_the_request_times_out_is_used_not_repeated(tmp_path, monkeypatch, mode):
    """The agent gave up waiting (its loop was too slow to read the answer in time) while
    the fork had answered and started the command: that fork is taken, the command is not
    sent to a new server — it runs once."""
    import socket as socketlib

    monkeypatch.setattr(_guardserver, "REQUEST_TIMEOUT", 0.5)

    async def slow_exchange(self, payload, fds):  # sends as the real one does, then does not read
        sock = self._sock or self._start()
        message = len(payload).to_bytes(4, "little") + payload
        rights = b"".join(fd.to_bytes(4, sys.byteorder) for fd in fds)
        await sock.sendmsg([message], [(socketlib.SOL_SOCKET, socketlib.SCM_RIGHTS, rights)])
        await trio.sleep(5)

    monkeypatch.setattr(_guardserver.GuardServer, "_exchange", slow_exchange)
    runs = tmp_path / "runs"
    res = await run_process(["sh", "-c", f"echo once >> {runs}; echo ok"])
    assert (res.exit_code, res.stdout) == (0, "ok\n")
    assert runs.read_text() == "once\n" and _guardserver.guard_server().failures == 0


async def test_large_commands_and_environments_arrive_whole():
    """A request larger than one socket read (a 120 KB script, 500 KB of environment);
    an argument over the kernel's limit is A009 with the kernel's reason."""
    res = await run_process(["sh", "-c", f"echo {'x' * 120_000} | wc -c"])
    assert (res.exit_code, res.stdout.strip()) == (0, "120001")
    env = {f"V{i}": "y" * 1000 for i in range(500)} | {"PATH": "/usr/bin:/bin"}
    res = await run_process(["sh", "-c", 'echo "${#V499}"; env | grep -c "^V"'], env=env)
    assert res.stdout.split() == ["1000", "500"]
    with pytest.raises(ActionError, match="Argument list too long") as exc:
        await run_process(["sh", "-c", "echo " + "x" * 200_000])
    assert exc.value.code is ErrorCode.A009


async def test_a_terminal_is_the_shells_controlling_terminal_under_its_guardian(mode):
    """A PTY child: its guardian is forked (or started on its own) like any other, and
    the PTY is the controlling terminal of the shell's session."""
    from agent_core._pty import open_pty

    script = 'tty; exec 3</dev/tty && echo ctty-ok; cat /proc/$PPID/comm; echo "sid-$(ps -o sid= -p $$ | tr -d " ")-ppid-$PPID"; echo done'
    out = b""
    async with open_pty(["sh", "-c", script], env={"PATH": "/usr/bin:/bin"}) as pty:
        with trio.fail_after(10):
            while b"done" not in out:
                out += await pty.stream.receive_some(4096)
    text = out.decode().replace("\r", "")
    assert text.startswith("/dev/pts/") and "ctty-ok" in text, text
    guardian_comm = text.splitlines()[2]
    assert guardian_comm.startswith("stg-") if mode == "forked" else guardian_comm.startswith("python"), text
    sid, ppid = re.search(r"sid-(\d+)-ppid-(\d+)", text).groups()
    assert sid == ppid, "the guardian leads the terminal's session"
