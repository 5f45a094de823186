"""Benchmark the task guardian: what it costs per child, and how fast a tree dies.

Run: ``.venv/bin/python bench/guardian.py [--rounds N] [--json]``. Prints a table;
with ``--json`` the last line is one JSON object with the same figures.

* spawn + wait of ``true`` through the runner, with a forked guardian (the agent's
  guardian server), with a guardian started as its own interpreter, and without
  one: wall time, and CPU time per task of the runner's process, its children and
  the guardian server (with the guardians it reaped);
* the resident memory of a guardian while a command runs, and of the server;
* time from ``kill -9`` of the parent (a stand-in agent) until every process of
  a tree with a ``setsid`` double-fork is gone;
* time from a timeout until ``run_process`` returns with the tree dead.

Only harmless ``sleep``/``true`` processes, all our own, on this machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402
import trio  # noqa: E402

from agent_core import _guardserver, _runner  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TREE = "echo $$ > {d}/sh.pid; sleep 300 & setsid sh -c 'sleep 300 & echo $! > {d}/esc.pid'; sleep 300"


def _cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (the guardians and, as
    they reap them, the commands): a per-task cost that load on the machine does
    not inflate the way it inflates wall time."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


MODES = ("forked", "direct", "none")


def _server_cpu() -> float:
    """CPU seconds of this process's guardian server and of the guardians it reaped."""
    server = _guardserver.guard_server()
    if server is None or server._proc is None or server._proc.poll() is not None:
        return 0.0
    t = psutil.Process(server._proc.pid).cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def _spawn_times(rounds: int, mode: str) -> tuple[list[float], float]:
    """Wall seconds of each ``true`` through the runner, and CPU seconds per task."""
    saved = _runner._guarded
    _guardserver.ENABLED = mode == "forked"
    if mode == "none":
        _runner._guarded = lambda: None  # type: ignore[assignment]
    try:

        async def run() -> tuple[list[float], float]:
            await _runner.run_process(["true"])  # starts the server: not part of the per-task cost
            cpu0 = _cpu_seconds() + _server_cpu()
            out = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                await _runner.run_process(["true"])
                out.append(time.perf_counter() - t0)
            return out, (_cpu_seconds() + _server_cpu() - cpu0) / rounds

        return trio.run(run)
    finally:
        _runner._guarded = saved
        _guardserver.ENABLED = True


def _wait_files(d: Path, names: tuple[str, ...]) -> None:
    end = time.monotonic() + 10
    while not all((d / n).exists() and (d / n).read_text().strip() for n in names):
        if time.monotonic() > end:
            raise RuntimeError("the tree did not start")
        time.sleep(0.01)
    time.sleep(0.1)


def _tree_of(d: Path) -> tuple[psutil.Process, list[psutil.Process]]:
    guardian = psutil.Process(psutil.Process(int((d / "sh.pid").read_text())).ppid())
    return guardian, [guardian, *guardian.children(recursive=True)]


def _gone(procs: list[psutil.Process]) -> bool:
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.Error:
            continue
    return True


class Kill(NamedTuple):
    seconds: float  # kill -9 of the stand-in agent -> every process of the tree gone
    guardian_rss: int
    server_rss: int  # 0 when the guardian was started directly
    server_uss: int
    tree_size: int


def _kill9_seconds(mode: str) -> Kill:
    """kill -9 of a stand-in agent running a tree: how fast the tree is gone, and the
    memory of its guardian (and guardian server) just before."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        script = d / "runner.py"
        script.write_text(
            f"import sys, trio\nsys.path.insert(0, {str(ROOT)!r})\n"
            "from agent_core import _guardserver\n"
            "from agent_core._runner import run_process\n"
            f"_guardserver.ENABLED = {mode == 'forked'}\n"
            f"trio.run(run_process, ['sh', '-c', {TREE.format(d=d)!r}])\n"
        )
        runner = subprocess.Popen([sys.executable, str(script)])
        try:
            _wait_files(d, ("sh.pid", "esc.pid"))
            guardian, procs = _tree_of(d)
            rss = guardian.memory_info().rss
            servers = [p for p in psutil.Process(runner.pid).children() if "--serve" in p.cmdline()]
            server_rss = servers[0].memory_info().rss if servers else 0
            server_uss = servers[0].memory_full_info().uss if servers else 0
            t0 = time.perf_counter()
            runner.send_signal(signal.SIGKILL)
            while not _gone(procs):
                time.sleep(0.005)
            return Kill(time.perf_counter() - t0, rss, server_rss, server_uss, len(procs))
        finally:
            runner.kill()
            runner.wait()


def _timeout_seconds() -> float:
    """Seconds from a timeout firing until run_process returns, tree dead."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        procs: list[psutil.Process] = []

        async def main() -> float:
            fired = 0.0
            async with trio.open_nursery() as nursery:

                async def watch() -> None:
                    nonlocal fired
                    await trio.to_thread.run_sync(_wait_files, d, ("sh.pid", "esc.pid"))
                    procs.extend(_tree_of(d)[1])
                    fired = time.perf_counter()
                    nursery.cancel_scope.cancel()

                nursery.start_soon(watch)
                await _runner.run_process(["sh", "-c", TREE.format(d=d)])
            took = time.perf_counter() - fired
            if not _gone(procs):
                raise RuntimeError("the tree outlived its timeout")
            return took

        return trio.run(main)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not _runner.guardian_available():
        print("the guardian cannot run here (needs Linux and cffi)")
        return
    spawns = {mode: _spawn_times(args.rounds, mode) for mode in MODES}
    kills = {mode: [_kill9_seconds(mode) for _ in range(5)] for mode in ("forked", "direct")}
    timeouts = [_timeout_seconds() for _ in range(5)]
    figures: dict[str, float] = {}
    for mode, (times, cpu) in spawns.items():
        figures[f"spawn_true_{mode}_ms"] = round(statistics.median(times) * 1e3, 2)
        figures[f"cpu_per_task_{mode}_ms"] = round(cpu * 1e3, 2)
    for mode, runs in kills.items():
        figures[f"guardian_rss_{mode}_mb"] = round(statistics.median(k.guardian_rss for k in runs) / 2**20, 1)
        figures[f"kill9_to_tree_gone_{mode}_ms_median"] = round(statistics.median(k.seconds for k in runs) * 1e3, 1)
        figures[f"kill9_to_tree_gone_{mode}_ms_max"] = round(max(k.seconds for k in runs) * 1e3, 1)
    figures["server_rss_mb"] = round(statistics.median(k.server_rss for k in kills["forked"]) / 2**20, 1)
    figures["server_uss_mb"] = round(statistics.median(k.server_uss for k in kills["forked"]) / 2**20, 1)
    figures["tree_size"] = kills["forked"][0].tree_size
    figures["timeout_to_return_ms_median"] = round(statistics.median(timeouts) * 1e3, 1)
    how = {"forked": "forked guardian", "direct": "guardian started as an interpreter", "none": "no guardian"}
    rows = []
    for mode in MODES:
        rows.append((f"run `true` through the runner, {how[mode]}, median", f"{figures[f'spawn_true_{mode}_ms']} ms"))
    for mode in MODES:
        rows.append((f"CPU per task, {how[mode]}", f"{figures[f'cpu_per_task_{mode}_ms']} ms"))
    rows += [
        ("RSS of a forked guardian while a command runs", f"{figures['guardian_rss_forked_mb']} MB"),
        ("RSS of a guardian started as an interpreter", f"{figures['guardian_rss_direct_mb']} MB"),
        ("RSS / USS of the guardian server (one per agent)", f"{figures['server_rss_mb']} / {figures['server_uss_mb']} MB"),
        ("processes in the test tree (guardian included)", str(figures["tree_size"])),
    ]
    for mode in ("forked", "direct"):
        rows.append((f"kill -9 of the agent -> whole tree gone, {how[mode]}, median / max of 5",
                     f"{figures[f'kill9_to_tree_gone_{mode}_ms_median']} / {figures[f'kill9_to_tree_gone_{mode}_ms_max']} ms"))
    rows.append(("timeout -> run_process returns, tree dead, median", f"{figures['timeout_to_return_ms_median']} ms"))
    width = max(len(r[0]) for r in rows)
    print(f"task guardian benchmark — Python {platform.python_version()}, {platform.machine()}, {psutil.cpu_count()} CPUs")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
