"""Benchmark the task guardian: what it costs per child, and how fast a tree dies.

Run: ``.venv/bin/python bench/guardian.py [--rounds N] [--json]``. Prints a table;
with ``--json`` the last line is one JSON object with the same figures.

* spawn + wait of ``true`` through the runner, with and without the guardian: wall
  time, and CPU time of the runner's process and its children per task;
* the guardian's resident memory while a command runs;
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402
import trio  # noqa: E402

from agent_core import _runner  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TREE = "echo $$ > {d}/sh.pid; sleep 300 & setsid sh -c 'sleep 300 & echo $! > {d}/esc.pid'; sleep 300"


def _cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (the guardians and, as
    they reap them, the commands): a per-task cost that load on the machine does
    not inflate the way it inflates wall time."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _spawn_times(rounds: int, guarded: bool) -> list[float]:
    saved = _runner._guarded
    if not guarded:
        _runner._guarded = lambda: None  # type: ignore[assignment]
    try:

        async def run() -> list[float]:
            out = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                await _runner.run_process(["true"])
                out.append(time.perf_counter() - t0)
            return out

        return trio.run(run)
    finally:
        _runner._guarded = saved


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


def _kill9_seconds() -> tuple[float, int, int]:
    """Seconds from kill -9 of a stand-in agent until its task tree is gone; also
    the guardian's RSS and the tree size."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        script = d / "runner.py"
        script.write_text(
            f"import sys, trio\nsys.path.insert(0, {str(ROOT)!r})\n"
            "from agent_core._runner import run_process\n"
            f"trio.run(run_process, ['sh', '-c', {TREE.format(d=d)!r}])\n"
        )
        runner = subprocess.Popen([sys.executable, str(script)])
        try:
            _wait_files(d, ("sh.pid", "esc.pid"))
            guardian, procs = _tree_of(d)
            rss = guardian.memory_info().rss
            t0 = time.perf_counter()
            runner.send_signal(signal.SIGKILL)
            while not _gone(procs):
                time.sleep(0.005)
            return time.perf_counter() - t0, rss, len(procs)
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
    cpu0 = _cpu_seconds()
    guarded = _spawn_times(args.rounds, True)
    cpu1 = _cpu_seconds()
    plain = _spawn_times(args.rounds, False)
    cpu2 = _cpu_seconds()
    kills = [_kill9_seconds() for _ in range(5)]
    timeouts = [_timeout_seconds() for _ in range(5)]
    figures = {
        "spawn_true_guarded_ms": round(statistics.median(guarded) * 1e3, 2),
        "spawn_true_plain_ms": round(statistics.median(plain) * 1e3, 2),
        "cpu_per_task_guarded_ms": round((cpu1 - cpu0) / args.rounds * 1e3, 2),
        "cpu_per_task_plain_ms": round((cpu2 - cpu1) / args.rounds * 1e3, 2),
        "guardian_rss_mb": round(statistics.median(k[1] for k in kills) / 2**20, 1),
        "tree_size": kills[0][2],
        "kill9_to_tree_gone_ms_median": round(statistics.median(k[0] for k in kills) * 1e3, 1),
        "kill9_to_tree_gone_ms_max": round(max(k[0] for k in kills) * 1e3, 1),
        "timeout_to_return_ms_median": round(statistics.median(timeouts) * 1e3, 1),
    }
    rows = [
        ("run `true` through the runner, guarded, median", f"{figures['spawn_true_guarded_ms']} ms"),
        ("run `true` through the runner, no guardian, median", f"{figures['spawn_true_plain_ms']} ms"),
        ("CPU per task (runner, guardian, `true`), guarded", f"{figures['cpu_per_task_guarded_ms']} ms"),
        ("CPU per task (runner, `true`), no guardian", f"{figures['cpu_per_task_plain_ms']} ms"),
        ("guardian RSS while a command runs", f"{figures['guardian_rss_mb']} MB"),
        ("processes in the test tree (guardian included)", str(figures["tree_size"])),
        ("kill -9 of the agent -> whole tree gone, median", f"{figures['kill9_to_tree_gone_ms_median']} ms"),
        ("kill -9 of the agent -> whole tree gone, max of 5", f"{figures['kill9_to_tree_gone_ms_max']} ms"),
        ("timeout -> run_process returns, tree dead, median", f"{figures['timeout_to_return_ms_median']} ms"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"task guardian benchmark — Python {platform.python_version()}, {platform.machine()}, {psutil.cpu_count()} CPUs")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
