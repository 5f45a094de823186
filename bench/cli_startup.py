"""Benchmark: how long the `starling` CLI takes of its own.

    .venv/bin/python bench/cli_startup.py [--runs 7] [--json]

1. ``starling --help`` and ``starling codes --json`` (no network): wall time of the
   whole process, median of ``--runs``.
2. ``starling run --host H --json -- true`` against a real center, proxy and agent
   (``starling up --agents 1`` in a temporary STARLING_HOME): the process's wall time
   minus the ``elapsed`` it reports (submit to the last result), i.e. start-up,
   imports, signing, and printing: what the CLI adds on top of the job.
3. The modules each path imports (``-X importtime``), top level, largest first.

Goals (issue 12): --help <= 0.25 s; run adds <= 0.3 s. Prints a markdown table; with
``--json``, one JSON object last. Not a test: numbers vary with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


CPU: list[float] = []


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall seconds of the process (and its CPU seconds, user + system, appended to CPU)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, proc


def median_cpu(n: int) -> float:
    return statistics.median(CPU[-n:])


def heaviest_imports(code: str, top: int = 6) -> list[tuple[str, float]]:
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True).stderr
    rows = []
    for line in err.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            _, cumulative, name = line.split(":", 1)[1].split("|")
            if name.startswith(" ") and not name.startswith("  "):
                rows.append((name.strip(), int(cumulative) / 1e6))
    return sorted(rows, key=lambda r: -r[1])[:top]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARLING_")}
    starling = str(BIN / "starling")
    timed([starling, "--help"], env)  # warm the page cache and bytecode
    help_s = statistics.median(timed([starling, "--help"], env)[0] for _ in range(args.runs))
    help_cpu = median_cpu(args.runs)
    codes_s = statistics.median(timed([starling, "codes", "--json"], env)[0] for _ in range(args.runs))
    codes_cpu = median_cpu(args.runs)

    home = Path(tempfile.mkdtemp(prefix="starling-clibench-"))
    env_up = dict(env, STARLING_HOME=str(home))
    try:
        up = subprocess.run([starling, "up", "--agents", "1", "--detach", "--port", "0", "--no-demo"], capture_output=True, text=True, env=env_up, timeout=180)
        if up.returncode != 0:
            raise SystemExit(up.stderr)
        host = json.loads((home / "up.json").read_text())["agents"][0]["hostname"]
        walls, elapsed = [], []
        for _ in range(args.runs + 1):
            wall, proc = timed([starling, "run", "--host", host, "--json", "--", "true"], env_up)
            doc = json.loads(proc.stdout)
            walls.append(wall)
            elapsed.append(float(doc["elapsed"]))
        walls, elapsed = walls[1:], elapsed[1:]
        run_cpu = median_cpu(args.runs)
        own = [w - e for w, e in zip(walls, elapsed, strict=True)]
    finally:
        subprocess.run([starling, "down"], capture_output=True, env=env_up, timeout=120)
        shutil.rmtree(home, ignore_errors=True)

    run_own = statistics.median(own)
    print(f"## CLI start-up ({args.runs} runs each, median; Python {sys.version.split()[0]})\n")
    load = os.getloadavg()[0]
    print(f"load average while measuring: {load:.1f} on {os.cpu_count()} CPUs (wall includes waiting for a CPU; CPU s does not)\n")
    print("| command | wall s | of which the job s | CLI's own s | CLI process CPU s | goal |")
    print("|---|---|---|---|---|---|")
    print(f"| `starling --help` | {help_s:.3f} | – | {help_s:.3f} | {help_cpu:.3f} | <= 0.25 |")
    print(f"| `starling codes --json` | {codes_s:.3f} | – | {codes_s:.3f} | {codes_cpu:.3f} | – |")
    print(f"| `starling run --host H --json -- true` | {statistics.median(walls):.3f} | {statistics.median(elapsed):.3f} | {run_own:.3f} | {run_cpu:.3f} | <= 0.3 |")
    print("\nHeaviest top-level imports of `starling run` (s, -X importtime):\n")
    for name, secs in heaviest_imports("import center.cli, center.cli._client, center.cli._render, rich.progress; from center.security._apiauth import StarlingAuth"):
        print(f"- `{name}` {secs:.3f}")
    if args.json:
        print(json.dumps({"help_s": round(help_s, 3), "help_cpu_s": round(help_cpu, 3), "codes_s": round(codes_s, 3),
                          "run_cpu_s": round(run_cpu, 3), "load": round(load, 2), "run_wall_s": round(statistics.median(walls), 3),
                          "run_job_s": round(statistics.median(elapsed), 3), "run_own_s": round(run_own, 3),
                          "goal_help_025": help_s <= 0.25, "goal_run_own_03": run_own <= 0.3}))


if __name__ == "__main__":
    main()
