"""Benchmark: one proxy host holding N agent connections, then one job to all.

    .venv/bin/python bench/connections.py [--conns 1000] [--workers 2] [--procs 2] [--sources 4] [--json]
    .venv/bin/python bench/connections.py --conns 50000 --workers 4 --procs 4 --sources 8

A real center (SQLite), one proxy run as ``--workers`` processes sharing its
port (SO_REUSEPORT), and ``starling-simfleet`` spread over ``--procs``
processes and ``--sources`` loopback source addresses (127.0.0.2 ...). Every
simulated agent is a real ``AgentSession``: its own key, real registration,
TLS, a hello with proof, heartbeats, signed results. Printed:

* *connect all*: seconds from starting the fleet until every identity is
  connected to the proxy (registration included: the center registers them).
* *RSS per idle connection*: the proxy workers' RSS with all agents connected
  and idle for ``--idle`` seconds, minus their RSS before any agent came,
  divided by N (the supervisor, which holds no agents, is shown apart).
* *heartbeat CPU*: the proxy workers' CPU seconds per wall second while the N
  agents only heartbeat (every ``--heartbeat`` seconds), and per 1,000 pings.
* *job reach*: one ``exec.run echo`` on all hosts: results back / N, and the
  wall time from submit until every result is stored.

Not a test. Loopback only; every process is started by this script and
stopped by its PID at the end. Numbers vary with the machine's load: say
whether it was shared when quoting them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.chaos._cluster import Cluster  # noqa: E402 - the chaos tests' cluster fixture


def _workers_status(c: Cluster) -> dict[str, Any]:
    return json.loads((c.root / "workers.json").read_text())


def _procs(pids: list[int]) -> list[psutil.Process]:
    return [psutil.Process(p) for p in pids]


def _rss(procs: list[psutil.Process]) -> int:
    return sum(p.memory_info().rss for p in procs)


def _cpu(procs: list[psutil.Process]) -> float:
    return sum(p.cpu_times().user + p.cpu_times().system for p in procs)


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    n = args.conns
    c = Cluster(work, heartbeat=args.heartbeat, capacity=max(20000, 2 * n), proxy_workers=args.workers)
    try:
        c.start_center()
        c.env["proxy-1"] = {"STARLING_PROXY_WORKERS_STATUS_FILE": str(c.root / "workers.json")}
        c.start_proxy("proxy-1")  # waits until every worker is linked
        names = {f"proxy-1.w{i}" for i in range(args.workers)} if args.workers > 1 else {"proxy-1"}
        workers = _procs(list(_workers_status(c)["pids"].values())) if args.workers > 1 else []
        supervisor = psutil.Process(c.procs["proxy-1"].pid)
        if not workers:
            workers = [supervisor]
        time.sleep(2)
        base_rss = _rss(workers)

        sources = [f"127.0.0.{2 + i}" for i in range(args.sources)]
        t0 = time.monotonic()
        c.start_simfleet(n, procs=args.procs, sources=sources, concurrency=args.concurrency)
        limit = 180 + n / 10
        c.wait_until(lambda: c.sim_status()["registered"] >= n, limit, f"{n} registered")
        registered_s = time.monotonic() - t0
        c.wait_until(lambda: c.sim_status()["connected"] >= n, limit, f"{n} connected")
        connect_s = time.monotonic() - t0
        c.wait_all_online(n, limit)
        online_s = time.monotonic() - t0

        # Idle, heartbeating: memory and CPU of the proxy workers.
        time.sleep(min(args.idle, args.heartbeat))  # let the arrival's garbage settle
        cpu0, w0 = _cpu(workers), time.monotonic()
        time.sleep(args.idle)
        cpu_s, wall = _cpu(workers) - cpu0, time.monotonic() - w0
        pings = n * wall / args.heartbeat
        rss = _rss(workers)
        held = {p["id"]: p["connections"] for p in c.client.proxies() if p["id"] in names}

        t1 = time.monotonic()
        job_id = str(c.client.submit("exec.run", {"cmd": "echo hi"}, all=True, timeout=120)["job_id"])
        job = c.wait_job(job_id, 180 + n / 100)
        job_s = time.monotonic() - t1
        ok = sum(1 for r in job["results"] if r["state"] == "succeeded")
        return {
            "conns": n, "workers": args.workers, "client_procs": args.procs, "sources": args.sources,
            "heartbeat_s": args.heartbeat, "registered_s": round(registered_s, 1), "connect_all_s": round(connect_s, 1),
            "online_s": round(online_s, 1),
            "rss_per_conn_kib": round((rss - base_rss) / n / 1024, 1), "proxy_rss_mib": round(rss / 2**20, 1),
            "proxy_base_rss_mib": round(base_rss / 2**20, 1), "supervisor_rss_mib": round(supervisor.memory_info().rss / 2**20, 1),
            "per_worker": held,
            "heartbeat_cpu_per_s": round(cpu_s / wall, 3), "cpu_ms_per_1000_pings": round(1000 * cpu_s / max(pings, 1) * 1000, 1),
            "job_reach": ok, "job_total": len(job["results"]), "job_wall_s": round(job_s, 2),
        }
    finally:
        stop_gently(c)


def stop_gently(c: Cluster) -> None:
    """SIGTERM the process trees first (the simfleet supervisor and the proxy
    supervisor stop their children by PID), then the cluster's SIGKILL sweep."""
    for name in ("simfleet", "proxy-1"):
        proc = c.procs.get(name)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
    c.stop_all()


def table(r: dict[str, Any]) -> str:
    rows = [
        ("connections", f"{r['conns']:,} ({r['client_procs']} client processes, {r['sources']} source addresses)"),
        ("proxy workers", f"{r['workers']}: {', '.join(f'{k} {v:,}' for k, v in sorted(r['per_worker'].items()))}"),
        ("registered (all)", f"{r['registered_s']} s"),
        ("connect all (registration included)", f"{r['connect_all_s']} s"),
        ("all online at the center", f"{r['online_s']} s"),
        ("RSS per idle TLS connection", f"{r['rss_per_conn_kib']} KiB (workers {r['proxy_base_rss_mib']} -> {r['proxy_rss_mib']} MiB; supervisor {r['supervisor_rss_mib']} MiB)"),
        (f"heartbeat CPU (every {r['heartbeat_s']:g} s)", f"{r['heartbeat_cpu_per_s']} CPU-s/s, {r['cpu_ms_per_1000_pings']} CPU-ms per 1,000 pings"),
        ("job reach", f"{r['job_reach']:,} / {r['conns']:,} results in {r['job_wall_s']} s"),
    ]
    out = ["| measure | value |", "| --- | --- |"]
    out += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conns", type=int, default=1000, help="agent connections (default: a size that runs in about a minute on a quiet machine)")
    ap.add_argument("--workers", type=int, default=2, help="proxy worker processes")
    ap.add_argument("--procs", type=int, default=0, help="simfleet processes (0: one per 12,500 connections, at least 2)")
    ap.add_argument("--sources", type=int, default=4, help="loopback source addresses 127.0.0.2 ...")
    ap.add_argument("--concurrency", type=int, default=32, help="registrations in flight per simfleet process")
    ap.add_argument("--heartbeat", type=float, default=5.0, help="heartbeat interval the proxy asks for")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle heartbeating measured")
    ap.add_argument("--json", action="store_true", help="also print one JSON object as the last line")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (configs, logs)")
    args = ap.parse_args()
    if args.conns < 1 or args.workers < 1 or not 1 <= args.sources <= 200:
        ap.error("--conns and --workers must be >= 1, --sources within 1..200")
    args.procs = args.procs or max(2, -(-args.conns // 12500))
    work = Path(tempfile.mkdtemp(prefix="starling-conns-"))
    try:
        result = run(args, work)
    finally:
        if args.keep:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(table(result))
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
