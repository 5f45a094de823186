"""Simulated-fleet benchmark: one proxy, N simulated agents in one process.

Prints a table: registration rate, time until every identity is connected and
online at the center, time for a ``cmd.run echo`` job on all of them to
complete (submit to every result stored), and the simfleet's RSS per idle
identity (beyond the process baseline, measured with ``--count 1``).

    .venv/bin/python bench/simfleet.py --count 1000 5000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.chaos._cluster import Cluster  # noqa: E402 - the chaos tests' cluster fixture


def _settled_rss(c: Cluster, seconds: float = 8.0) -> int:
    time.sleep(seconds)
    return int(c.sim_status()["rss"])


def baseline_rss(work: Path) -> int:
    c = Cluster(work / "baseline")
    try:
        c.start_center()
        c.start_proxy("proxy-1")
        c.start_simfleet(1)
        c.wait_all_online(1, 60)
        return _settled_rss(c)
    finally:
        c.stop_all()


def one(work: Path, count: int, base: int, runs: int) -> dict[str, float]:
    c = Cluster(work / f"n{count}")
    try:
        c.start_center()
        c.start_proxy("proxy-1")
        t0 = time.monotonic()
        c.start_simfleet(count)
        c.wait_until(lambda: c.sim_status()["registered"] >= count, 60 + count / 20, "registered")
        reg_s = time.monotonic() - t0
        c.wait_all_online(count, 60 + count / 20)
        online_s = time.monotonic() - t0
        rss = _settled_rss(c)
        job_times = []
        for _ in range(runs):
            t1 = time.monotonic()
            job_id = str(c.client.submit("cmd.run", {"cmd": "echo hi"}, all=True, timeout=60)["job_id"])
            job = c.wait_job(job_id, 120)
            job_times.append(time.monotonic() - t1)
            ok = sum(1 for r in job["results"] if r["state"] == "succeeded" and r["stdout"] == "hi\n")
            if ok != count:
                raise SystemExit(f"{count}: only {ok} of {count} succeeded")
        st = c.sim_status()
        if st["executed_twice"]:
            raise SystemExit(f"{count}: {st['executed_twice']} tasks executed twice")
        job_times.sort()
        return {
            "agents": count, "register_per_s": count / reg_s, "all_online_s": online_s,
            "echo_job_p50_s": job_times[len(job_times) // 2], "echo_job_min_s": job_times[0],
            "sim_rss_mb": rss / 2**20, "kb_per_identity": (rss - base) / count / 1024,
        }
    finally:
        c.stop_all()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-simfleet-"))
    try:
        base = baseline_rss(work)
        rows = [one(work, n, base, args.runs) for n in args.count]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cols = list(rows[0])
    print(f"simfleet baseline RSS (1 identity): {base / 2**20:.1f} MB")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[k]:.2f}" if isinstance(r[k], float) else str(r[k]) for k in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
