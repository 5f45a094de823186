"""File-channel benchmark: one file to N simulated agents behind 2 proxies.

A center, two proxies and two simfleet processes (80 % and 20 % of the
agents) run as separate processes on loopback. The simulated agents run the
real ``file.install`` fetch-and-verify code (``contrib/simfleet/_files.py``).
Three rounds:

1. ``cold`` — the file (random bytes) to every agent: bytes out of the center
   (goal <= 2.1 x the file size with 2 proxies), wall time from submission to
   every result stored, and MB/s per role;
2. ``again`` — the same file again: every host already holds it (goal <= 2 s,
   no file bytes sent);
3. ``kill`` — a new file; when the small simfleet (20 % of the agents) is
   mid-way it is killed with SIGKILL and started again; its hosts report A007
   and the copy is sent again to them (as ``starling cp --retries`` does):
   every host must end with the verified file, and the resumed hosts fetch
   only the chunks they did not hold.

    .venv/bin/python bench/files.py --agents 1000 --mb 10 [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from center.cli._cp import build_manifest, upload  # noqa: E402
from tests.chaos._cluster import PY, Cluster  # noqa: E402

MB = 1_000_000
ARENAS: dict[str, str] = {"MALLOC_MMAP_THRESHOLD_": "1048576"} if os.environ.get("BENCH_MMAP") else {}


def start_sims(c: Cluster, name: str, count: int, prefix: str) -> None:
    c.argv[name] = [
        PY, "-m", "contrib.simfleet._cli", "--center", c.api, "--ca", str(c.ca), f"--token={c.enroll_token}",
        "--count", str(count), "--idc", "chaos", "--state-dir", str(c.root / name), "--prefix", prefix,
        "--backoff-min", "0.5", "--backoff-max", "3", "--log-file", str(c.logs / f"{name}.log"),
    ]
    c.env[name] = dict(ARENAS)
    c._start(name)


def sim_status(c: Cluster, name: str) -> dict[str, Any]:
    try:
        return dict(json.loads((c.root / name / "status.json").read_text()))
    except (OSError, ValueError):
        return {}


def held_lines(log: Path, digests: set[str]) -> int:
    try:
        return sum(1 for line in log.read_text().splitlines() if line.startswith("H ") and line[-64:] in digests)
    except OSError:
        return 0


def center_out(c: Cluster) -> int:
    return int(c.client.request("GET", "/v1/health")["files"].get("served_bytes", 0))


def push(c: Cluster, entries: list[dict[str, Any]], chunk: int, hosts: list[str] | None = None) -> str:
    body: dict[str, Any] = {"dest": "/srv/bench/payload.bin", "files": entries, "chunk_size": chunk, "timeout": 1800}
    body |= {"hosts": hosts} if hosts else {"all": True}
    return str(c.client.request("POST", "/v1/files/push", json_body=body)["job_id"])


def wait(c: Cluster, job_id: str, limit: float) -> dict[str, Any]:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        view = c.client.wait(job_id, timeout=5)
        if view["complete"]:
            return dict(c.client.job(job_id))
    raise SystemExit(f"job {job_id} did not complete in {limit:.0f}s")


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as fh:
        left = size
        while left:
            n = min(left, 4 << 20)
            fh.write(os.urandom(n))
            left -= n


def run(agents: int, mb: float, chunk: int, work: Path) -> dict[str, Any]:
    size = int(mb * MB)
    small = max(1, agents // 5)
    c = Cluster(work / "cluster", proxies=2)
    try:
        c.start_center()
        for pid in c.proxy_ids:
            c.env[pid] = {"STARLING_PROXY_CACHE_DIR": str(work / f"{pid}-cache")} | ARENAS
            c.start_proxy(pid)
        start_sims(c, "sim-a", agents - small, "fa")
        start_sims(c, "sim-b", small, "fb")
        c.wait_all_online(agents, 120 + agents / 10)
        out: dict[str, Any] = {"agents": agents, "file_mb": size / MB, "chunk_mib": chunk / 2**20, "proxies": 2}

        # 1. cold
        src = work / "payload-1.bin"
        make_file(src, size)
        entries, where = build_manifest(src, chunk)
        t0 = time.monotonic()
        upload(c.client, where, quiet=True)
        up_s = time.monotonic() - t0
        before = center_out(c)
        t1 = time.monotonic()
        job = wait(c, push(c, entries, chunk), 3600)
        cold_s = time.monotonic() - t1
        ok = sum(1 for r in job["results"] if r["state"] == "succeeded")
        delivered = sum(r["data"]["fetched_bytes"] for r in job["results"] if isinstance(r.get("data"), dict))
        from_center = center_out(c) - before
        out["cold"] = {
            "ok_hosts": ok, "upload_s": round(up_s, 2), "wall_s": round(cold_s, 2),
            "center_out_mb": round(from_center / MB, 1), "center_out_x_file": round(from_center / size, 3),
            "delivered_mb": round(delivered / MB, 1),
            "center_mb_s": round(from_center / MB / cold_s, 1), "proxies_mb_s": round(delivered / MB / cold_s, 1),
            "per_agent_mb_s": round(delivered / MB / cold_s / max(1, agents), 3),
        }

        # 2. again: every host holds it
        before = center_out(c)
        t2 = time.monotonic()
        job = wait(c, push(c, entries, chunk), 600)
        again_s = time.monotonic() - t2
        sent = sum(r["data"]["fetched_bytes"] for r in job["results"] if isinstance(r.get("data"), dict))
        out["again"] = {
            "ok_hosts": sum(1 for r in job["results"] if r["state"] == "succeeded"),
            "same_hosts": sum(1 for r in job["results"] if isinstance(r.get("data"), dict) and r["data"]["same"] == 1),
            "wall_s": round(again_s, 2), "file_bytes_sent": sent, "center_out_bytes": center_out(c) - before,
        }

        # 3. kill 20 % mid-way, restart, send again to the interrupted hosts
        src2 = work / "payload-2.bin"
        make_file(src2, size)
        entries2, where2 = build_manifest(src2, chunk)
        upload(c.client, where2, quiet=True)
        nchunks = len(entries2[0]["chunks"])
        t3 = time.monotonic()
        job_id = push(c, entries2, chunk)
        # Mid-way: the small fleet holds about half of the chunks it will get
        # (its held log gains one line per verified chunk).
        log = c.root / "sim-b" / "files" / "held.log"
        digests = set(entries2[0]["chunks"])
        goal = max(1, small * nchunks // 2)
        end = time.monotonic() + 600
        while time.monotonic() < end and held_lines(log, digests) < goal:
            time.sleep(0.05)
        c.kill("sim-b")
        killed_at = time.monotonic() - t3
        c.start("sim-b")
        first = wait(c, job_id, 1800)
        interrupted = [r["host"] for r in first["results"] if r["state"] != "succeeded"]
        codes = sorted({r["code"] for r in first["results"] if r["state"] != "succeeded"})
        held_total = 0
        resent = 0
        final_ok = sum(1 for r in first["results"] if r["state"] == "succeeded")
        if interrupted:
            c.wait_all_online(agents, 120)
            second = wait(c, push(c, entries2, chunk, hosts=interrupted), 1800)
            for r in second["results"]:
                d = r.get("data") or {}
                if r["state"] == "succeeded":
                    final_ok += 1
                held_total += int(d.get("held_chunks", 0))
                # Anything fetched beyond what the host lacked would be a re-send.
                resent += max(0, int(d.get("fetched_chunks", 0)) + int(d.get("held_chunks", 0)) - nchunks)
        out["kill"] = {
            "killed_hosts": small, "killed_after_s": round(killed_at, 2), "interrupted": len(interrupted), "codes": codes,
            "chunks_held_at_restart": held_total, "chunks_per_file": nchunks, "chunks_resent": resent,
            "hosts_with_verified_file": final_ok, "wall_s": round(time.monotonic() - t3, 2),
        }
        return out
    finally:
        c.stop_all()


def table(r: dict[str, Any]) -> str:
    cold, again, kill = r["cold"], r["again"], r["kill"]
    rows = [
        ("setup", f"{r['agents']} simulated agents, 2 proxies, {r['file_mb']:g} MB file, {r['chunk_mib']:g} MiB chunks", ""),
        ("cold: hosts with the verified file", f"{cold['ok_hosts']}/{r['agents']}", ""),
        ("cold: bytes out of the center", f"{cold['center_out_mb']} MB = {cold['center_out_x_file']} x file", "<= 2.1 x"),
        ("cold: wall time (submit to all results)", f"{cold['wall_s']} s", ""),
        ("cold: MB/s center -> proxies", f"{cold['center_mb_s']}", ""),
        ("cold: MB/s proxies -> agents (total)", f"{cold['proxies_mb_s']}", ""),
        ("cold: MB/s per agent (mean)", f"{cold['per_agent_mb_s']}", ""),
        ("cold: upload CLI -> center", f"{cold['upload_s']} s", ""),
        ("again: wall time", f"{again['wall_s']} s ({again['same_hosts']} hosts 'same')", "<= 2 s"),
        ("again: file bytes sent", f"{again['file_bytes_sent']} (center out {again['center_out_bytes']})", "0"),
        ("kill: hosts killed (SIGKILL, restarted)", f"{kill['killed_hosts']} after {kill['killed_after_s']} s; {kill['interrupted']} interrupted {kill['codes']}", ""),
        ("kill: hosts ending with the verified file", f"{kill['hosts_with_verified_file']}/{r['agents']}", "all"),
        ("kill: chunks the restarted hosts already held", f"{kill['chunks_held_at_restart']} (of {kill['chunks_per_file']} per file)", ""),
        ("kill: chunks re-sent that a host held", f"{kill['chunks_resent']}", "0"),
        ("kill: wall time incl. restart and retry", f"{kill['wall_s']} s", ""),
    ]
    w = max(len(a) for a, _, _ in rows)
    lines = [f"| {'measure':{w}} | value | goal |", f"|{'-' * (w + 2)}|---|---|"]
    lines += [f"| {a:{w}} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--mb", type=float, default=10.0, help="file size in MB (10^6 bytes)")
    ap.add_argument("--chunk-mib", type=float, default=4.0)
    ap.add_argument("--work", default="", help="work directory (default: a temp dir, removed after)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="starling-bench-files-"))
    try:
        r = run(a.agents, a.mb, int(a.chunk_mib * 2**20), work)
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    print(table(r))
    if a.json:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
