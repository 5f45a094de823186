"""Fan-out benchmark: a center, a proxy and N simulated agents speaking the
real protocol (the agent's own session, real keys, hello proofs and result
signatures), each role its own process on loopback.

For every fleet size it measures

* registration rate (agents/s: fleet start until every identity enrolled),
* cold start (fleet start until the center lists every host online),
* an ``echo`` job on every host: submit → every result stored (wall), hosts/s,
  p50/p99 per-host latency (submit → the host finished the task, by the
  host's clock, which is this machine's),
* CPU seconds of each role (center, proxy, fleet) during the job (psutil),
* the fleet's resident memory per simulated agent (idle, all online).

    .venv/bin/python bench/fanout.py                    # 1,000 and 10,000 hosts, SQLite
    .venv/bin/python bench/fanout.py --hosts 50000      # several fleet processes and sources
    .venv/bin/python bench/fanout.py --store postgresql+psycopg://postgres@127.0.0.1:5432/bench --json

Prints a table; with ``--json`` one JSON object is the last line. Not a test:
numbers go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.chaos._cluster import Cluster  # noqa: E402 - the chaos tests' cluster (the roles as operators run them)

#: Identities per fleet process (each process is capped at 20,000 open files).
PER_PROC = 15000
#: From this many hosts on, the simulated fleet runs in at least one process per core: one
#: process is one core's worth of agents (10,000 real hosts would be 10,000 processes on
#: their own machines), and a single one serialised the fleet's work behind the others'.
SPREAD_FROM = 5000
#: Hosts per 127.0.0.x source address. One address has ~28,000 ephemeral
#: ports, but the proxy admits only 64 logins in flight per source address
#: (a pre-login DoS bound); real hosts each have their own address.
PER_SOURCE = 2500


def _cpu(pids: list[int]) -> float:
    """User+system CPU seconds of these processes and their children."""
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


def _pct(values: list[float], q: float) -> float:
    if not values:
        raise SystemExit("no result carries a finish time")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Profiler:
    """py-spy on every role for one phase; collapsed stacks in ``DIR/<phase>-<role>.txt``."""

    def __init__(self, out: Path | None) -> None:
        self.out = out
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, phase: str, roles: dict[str, list[int]]) -> None:
        if self.out is None:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        spy = str(Path(sys.executable).parent / "py-spy")
        for role, pids in roles.items():
            # A proxy with workers: its supervisor and each worker process.
            pids = pids + [ch.pid for pid in pids for ch in psutil.Process(pid).children()]
            for pid in pids:
                dest = self.out / f"{phase}-{role}-{pid}.txt"
                self.running.append(subprocess.Popen(
                    [spy, "record", "--format", "raw", "--rate", "200", "-p", str(pid), "-o", str(dest)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ))

    def stop(self) -> None:
        for proc in self.running:
            proc.send_signal(signal.SIGINT)
        for proc in self.running:
            proc.wait(60)
        self.running = []


def one(
    work: Path, hosts: int, *, store: str, runs: int, via_proxy: bool, heartbeat: float, procs: int, sources: int, workers: int, profiler: Profiler
) -> dict[str, Any]:
    c = Cluster(work / f"n{hosts}", heartbeat=heartbeat, db=store, capacity=max(20000, hosts), proxy_workers=workers)
    try:
        c.start_center()
        c.start_proxy("proxy-1")
        addrs = [f"127.0.0.{2 + i}" for i in range(sources)] if sources > 1 else []
        base = {r: _cpu([c.procs[n].pid]) for r, n in (("center", "center"), ("proxy", "proxy-1"))}
        t0 = time.monotonic()
        c.start_simfleet(hosts, procs=procs, sources=addrs, concurrency=32, **({"via_proxy": True} if via_proxy else {}))
        if profiler.out is not None:
            time.sleep(2)  # the fleet's processes are up
            fleet = [p.pid for p in psutil.Process(c.procs["simfleet"].pid).children()] if procs > 1 else [c.procs["simfleet"].pid]
            profiler.start(f"n{hosts}-register", {"center": [c.procs["center"].pid], "proxy": [c.procs["proxy-1"].pid], "fleet": fleet})
        limit = 120 + hosts / 10  # generous: registration runs at ~30/s before the hot-path work
        c.wait_until(lambda: c.sim_status()["registered"] >= hosts, limit, f"{hosts} registered")
        reg_s = time.monotonic() - t0
        c.wait_until(lambda: c.online_hosts() >= hosts, limit, f"{hosts} online")
        online_s = time.monotonic() - t0
        # CPU per registration, each role, fleet start → all online (load barely distorts it).
        reg_cpu = {r: _cpu([c.procs[n].pid]) - base[r] for r, n in (("center", "center"), ("proxy", "proxy-1"))}
        reg_cpu["fleet"] = _cpu([c.procs["simfleet"].pid])
        load_avg = psutil.getloadavg()[0]
        profiler.stop()
        # Let registration traffic settle, and each role freeze its heap again now that its
        # connections hold still (transports.settle_heap: one full collection each, once).
        time.sleep(6)
        st = c.sim_status()
        fleet_pids = st.get("pids", [st["pid"]])
        stats_before = dict(st.get("stats", {}))
        roles = {"center": [c.procs["center"].pid], "proxy": [c.procs["proxy-1"].pid], "fleet": fleet_pids}
        rss_per_agent = st["rss"] / hosts
        walls: list[float] = []
        away: list[int] = []  # hosts between proxies at submission (the job waited for them)
        lat50: list[float] = []
        lat99: list[float] = []
        cpu: dict[str, list[float]] = {r: [] for r in roles}
        for run in range(runs):
            if run == runs - 1:
                profiler.start(f"n{hosts}-job", roles)
            before = {r: _cpu(p) for r, p in roles.items()}
            t_submit = time.time()
            t1 = time.monotonic()
            # offline="wait": a host the IDC balancer is moving between proxies (or workers)
            # right then is not down; its task waits for it, as an operator's would.
            answer = c.client.submit("exec.run", {"cmd": "echo hi"}, all=True, timeout=120, offline="wait")
            job_id = str(answer["job_id"])
            away.append(int(answer.get("offline", 0)))
            # Long-polls shorter than the client's 30 s HTTP timeout.
            view = c.client.wait(job_id, 20)
            while not view.get("complete"):
                view = c.client.wait(job_id, 20)
            walls.append(time.monotonic() - t1)
            profiler.stop()
            after = {r: _cpu(p) for r, p in roles.items()}
            for r in roles:
                cpu[r].append(after[r] - before[r])
            job = c.client.job(job_id)
            rows = job["results"]
            ok = sum(1 for r in rows if r["state"] == "succeeded" and r["stdout"] == "hi\n")
            if ok != hosts:
                raise SystemExit(f"{hosts}: only {ok} of {hosts} succeeded: {job['counts']}")
            lat = [r["times"]["finished"] - t_submit for r in rows if r["times"].get("finished")]
            lat50.append(_pct(lat, 0.50))
            lat99.append(_pct(lat, 0.99))
            time.sleep(2)
        st = c.sim_status()
        stats_after = st.get("stats", {})
        if st["executed_twice"]:
            raise SystemExit(f"{hosts}: {st['executed_twice']} tasks executed twice")
        enrolment = {
            "hosts": hosts,
            "procs": procs,
            "proxy_workers": workers,
            "enroll": "proxy" if via_proxy else "https",
            "register_per_s": hosts / reg_s,
            "online_s": online_s,
            **{f"reg_cpu_{r}_ms": 1000 * v / hosts for r, v in reg_cpu.items()},
            "load1": load_avg,
        }
        if not walls:
            return enrolment
        wall = statistics.median(walls)
        return {
            **enrolment,
            "job_wall_s": wall,
            "job_best_s": min(walls),
            "hosts_per_s": hosts / wall,
            "p50_s": statistics.median(lat50),
            "p99_s": statistics.median(lat99),
            "cpu_center_s": statistics.median(cpu["center"]),
            "cpu_proxy_s": statistics.median(cpu["proxy"]),
            "cpu_fleet_s": statistics.median(cpu["fleet"]),
            "fleet_kb_per_agent": rss_per_agent / 1024,
            # Over all runs: results the fleet sent again (no ack within 20 s), tasks it got twice.
            "offline_at_submit": max(away),
            "resent": stats_after.get("results_resent", 0) - stats_before.get("results_resent", 0),
            "dup_tasks": stats_after.get("duplicates", 0) - stats_before.get("duplicates", 0),
        }
    finally:
        c.stop_all()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, nargs="+", default=[1000, 10000], help="fleet sizes (50000 is an option)")
    ap.add_argument("--store", default="", help="the center's database URL (default: SQLite in its state dir)")
    ap.add_argument("--runs", type=int, default=3, help="jobs per fleet size (the median is shown; 0: enrollment only)")
    ap.add_argument("--heartbeat", type=float, default=30.0, help="heartbeat interval in seconds")
    ap.add_argument("--procs", type=int, default=0,
                    help=f"fleet processes (default: one per {PER_PROC:,} hosts, and one per core from {SPREAD_FROM:,} hosts)")
    ap.add_argument("--sources", type=int, default=0, help=f"127.0.0.x source addresses (default: one per {PER_SOURCE:,})")
    ap.add_argument("--proxy-workers", type=int, default=0,
                    help=f"proxy worker processes (default: one per {PER_PROC:,} hosts; needs a proxy with `workers`)")
    ap.add_argument("--enroll", choices=("https", "proxy"), default="proxy",
                    help="how identities enroll: through their proxy's link, batched (default), or HTTPS to the center")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ap.add_argument("--keep", action="store_true", help="keep the roles' state and logs (their directory is printed)")
    ap.add_argument("--profile", default="", help="py-spy every role during registration and the last job; stacks go to DIR")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    rows = []
    failed = True
    try:
        for n in args.hosts:
            procs = args.procs or max(math.ceil(n / PER_PROC), min(os.cpu_count() or 1, n // SPREAD_FROM) or 1)
            sources = args.sources or math.ceil(n / PER_SOURCE)
            workers = args.proxy_workers or math.ceil(n / PER_PROC)
            rows.append(one(work, n, store=args.store, runs=args.runs, via_proxy=args.enroll == "proxy", heartbeat=args.heartbeat, procs=procs, sources=sources,
                            workers=workers, profiler=Profiler(Path(args.profile) if args.profile else None)))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        failed = False
    finally:
        if failed or args.keep:
            print(f"fanout: {'failed; ' if failed else ''}the roles' logs are kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    cols = list(rows[0])
    print(f"store: {args.store or 'sqlite'}; heartbeat {args.heartbeat:g}s; {args.runs} jobs per size (median)")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[k]:.2f}" if isinstance(r[k], float) else str(r[k]) for k in cols) + " |")
    if args.json:
        print(json.dumps({"bench": "fanout", "store": args.store or "sqlite", "heartbeat": args.heartbeat, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
