"""The center's CPU seconds in the whole system: registration, idle heartbeats, jobs.

One center (SQLite), one proxy and ``starling-simfleet`` with N identities
(the chaos tests' cluster: real HTTPS registration, TCP+TLS links, heartbeat
5 s), then ``exec.run echo hi`` on all N. psutil reads the center process's CPU
time around each phase, so the figures stay meaningful on a busy machine where
wall times do not. ``--tree`` runs another checkout's code (e.g. the tree
before a change, unpacked with ``git archive REV | tar -x -C DIR``).

    .venv/bin/python bench/center_cpu.py --count 2000
    .venv/bin/python bench/center_cpu.py --count 2000 --tree /tmp/before --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def measure(count: int, jobs: int, work: Path) -> dict[str, float]:
    import psutil

    from tests.chaos._cluster import Cluster

    c = Cluster(work)
    out: dict[str, float] = {"agents": count, "load1": os.getloadavg()[0]}
    try:
        c.start_center()
        c.start_proxy("proxy-1")
        center = psutil.Process(c.procs["center"].pid)

        def cpu() -> float:
            t = center.cpu_times()
            return float(t.user + t.system)

        c0, t0 = cpu(), time.monotonic()
        c.start_simfleet(count)
        c.wait_until(lambda: c.sim_status()["registered"] >= count, 60 + count, "registered")
        out["register_s"] = time.monotonic() - t0
        out["register_cpu_ms_each"] = (cpu() - c0) * 1000 / count
        c.wait_all_online(count, 60 + count)
        out["online_s"] = time.monotonic() - t0
        time.sleep(5)
        c1 = cpu()
        time.sleep(10)
        out["idle_cpu_per_s"] = (cpu() - c1) / 10
        for run in range(jobs):
            c1, t1 = cpu(), time.monotonic()
            job_id = str(c.client.submit("exec.run", {"cmd": "echo hi"}, all=True, timeout=300)["job_id"])
            out[f"job{run + 1}_submit_s"] = time.monotonic() - t1
            job = c.wait_job(job_id, 60 + count)
            out[f"job{run + 1}_s"] = time.monotonic() - t1
            out[f"job{run + 1}_cpu_s"] = cpu() - c1
            ok = sum(1 for r in job["results"] if r["state"] == "succeeded")
            if ok != count:
                raise SystemExit(f"job {run + 1}: {ok} of {count} succeeded")
    finally:
        c.stop_all()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--tree", default="", help="run this checkout's code instead of this one's")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args()
    tree = Path(args.tree).resolve() if args.tree else Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(tree))
    os.environ["PYTHONPATH"] = str(tree)  # the center, proxy and simfleet it starts import it too
    with tempfile.TemporaryDirectory(prefix="starling-center-cpu-") as tmp:
        row = measure(args.count, args.jobs, Path(tmp))
    print(f"tree {tree}")
    for key, value in row.items():
        print(f"{key:>22}  {value:10.3f}")
    if args.json:
        print(json.dumps({"tree": str(tree), **row}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
