"""Benchmark: `starling run` on N local agents (real processes over TCP+TLS),
and the idle memory of one agent.

    .venv/bin/python bench/local_fleet.py --agents 20 100 --runs 5

Prints a table; numbers go to docs/benchmarks.md. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent


def cli(home: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, STARLING_HOME=home)
    return subprocess.run([str(BIN / "starling"), *args], capture_output=True, text=True, env=env, timeout=timeout)


def measure(n: int, runs: int, idle_wait: float) -> dict[str, float]:
    home = tempfile.mkdtemp(prefix=f"starling-bench-{n}-")
    t0 = time.monotonic()
    up = cli(home, "up", "--agents", str(n), "--port", "0", "--detach", "--no-demo")
    if up.returncode != 0:
        raise SystemExit(up.stderr)
    started = time.monotonic() - t0
    try:
        times = []
        for _ in range(runs):
            t = time.monotonic()
            proc = cli(home, "run", "--all", "--json", "--", "echo hi")
            times.append(time.monotonic() - t)
            doc = json.loads(proc.stdout)
            ok = sum(1 for h in doc["hosts"] if h["stdout"] == "hi\n")
            assert ok == n, f"only {ok}/{n} answered"
        # The same job through the Python client: the system's own latency,
        # without the CLI's interpreter start-up.
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from center import Client

        prof = json.loads(Path(home, "up.json").read_text())
        client = Client(prof["api"], prof["key_id"], prof["secret"], prof["ca_file"])
        api_times = []
        for _ in range(runs):
            t = time.monotonic()
            sub = client.submit("exec.run", {"cmd": "echo hi"}, all=True)
            view = client.wait(sub["job_id"], 60)
            api_times.append(time.monotonic() - t)
            assert view["counts"].get("succeeded") == n, view["counts"]
        client.close()
        time.sleep(idle_wait)
        profile = json.loads(Path(home, "up.json").read_text())
        rss = [psutil.Process(a["pid"]).memory_info().rss for a in profile["agents"]]
        uss = [psutil.Process(a["pid"]).memory_full_info().uss for a in profile["agents"][:5]]
        pids = profile["pids"]
        center_rss = psutil.Process(pids[0]).memory_info().rss
        proxy_rss = psutil.Process(pids[1]).memory_info().rss
    finally:
        cli(home, "down")
    return {
        "agents": n,
        "startup_s": started,
        "api_job_p50_s": statistics.median(api_times),
        "api_job_max_s": max(api_times),
        "run_p50_s": statistics.median(times),
        "run_min_s": min(times),
        "run_max_s": max(times),
        "agent_rss_mb": statistics.median(rss) / 2**20,
        "agent_uss_mb": statistics.median(uss) / 2**20,
        "center_rss_mb": center_rss / 2**20,
        "proxy_rss_mb": proxy_rss / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, nargs="+", default=[20, 100])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--idle-wait", type=float, default=15.0)
    args = ap.parse_args()
    rows = [measure(n, args.runs, args.idle_wait) for n in args.agents]
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")


if __name__ == "__main__":
    main()
