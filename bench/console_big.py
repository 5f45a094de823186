"""The console's batch page with a big job: a center, one proxy and N simulated
agents (contrib/simfleet), and the page in Debian's headless chromium
(bench/console_big.mjs, playwright-core) running one ``exec.run`` on all of them.

Prints a table: time from the click to the first result row on screen and to
every result listed, the main thread's lag while results stream in (a 50 ms
timer's lateness: p50, p99, max) and the long tasks the browser reports, the
most list rows and DOM elements the page ever held, and the time to scroll the
per-host list to a new place and paint it (two animation frames).

    .venv/bin/python bench/console_big.py --hosts 10000 [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.chaos import _cluster  # noqa: E402 - the chaos tests' cluster fixture

MODULES = ROOT / "center" / "console" / "node_modules"
CHROMIUM = os.environ.get("STARLING_CHROMIUM", "/usr/bin/chromium")


def run(hosts: int, command: str, shot: str) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="bench-console-"))
    # 10,000 identities heartbeating every 5 s keep a 2-core center busy; 30 s is a production-like pace.
    c = _cluster.Cluster(work, heartbeat=30.0, capacity=max(20_000, hosts))
    try:
        c.start_center()
        c.start_proxy("proxy-1")
        t0 = time.monotonic()
        # One loopback source address per 2,500 identities, as bench/fanout.py does (a proxy limits
        # the connections one address may have mid-handshake).
        c.start_simfleet(hosts, sources=[f"127.0.0.{2 + i}" for i in range(math.ceil(hosts / 2500))], concurrency=32)
        # On a loaded machine the last identities can take long to come online: the job runs on
        # every host online once the count stops growing (at least 85 %), and the table says how many.
        want = int(hosts * 0.85)
        c.wait_until(lambda: c.online_hosts() >= want, 300 + hosts / 5, f"{want} hosts online")
        last, now = -1, c.online_hosts()
        while now > last + hosts // 200 and now < hosts:
            time.sleep(20)
            last, now = now, c.online_hosts()
        online_s = time.monotonic() - t0
        env = {**os.environ, "STARLING_API": c.api, "STARLING_KEY_ID": c.key_id, "STARLING_SECRET": c.secret,
               "HOSTS": str(want), "COMMAND": command, "TIMEOUT": "600", "CONSOLE_MODULES": str(MODULES), "CHROMIUM": CHROMIUM, "SHOT": shot}
        proc = subprocess.run(["node", str(ROOT / "bench" / "console_big.mjs")], env=env, capture_output=True, text=True,
                              timeout=1800, check=False)
        if proc.returncode:
            raise SystemExit(f"browser run failed:\n{proc.stderr[-3000:]}")
        doc = json.loads(proc.stdout.strip().splitlines()[-1])
        doc["fleet"], doc["online_s"] = hosts, round(online_s, 1)
        return doc
    finally:
        c.stop_all()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=10_000)
    ap.add_argument("--command", default="sleep 2; echo hi")
    ap.add_argument("--shot", default="", help="save a screenshot of the per-host list here")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args()
    if shutil.which("node") is None or not Path(CHROMIUM).exists() or not (MODULES / "playwright-core").is_dir():
        raise SystemExit("needs node, chromium and the console's npm packages (./dev install)")
    d = run(args.hosts, args.command, args.shot)
    rows = [
        ("hosts in the job (simulated fleet size)", f"{d['hosts']} ({d['fleet']})", ""),
        ("click → first result row on screen", f"{d['firstRowMs']:.0f}", "ms"),
        ("click → every result listed", f"{d['allRowsMs'] / 1000:.1f}", "s"),
        ("main-thread lag while streaming p50 / p99 / max", f"{d['lagP50']:.0f} / {d['lagP99']:.0f} / {d['lagMax']:.0f}", "ms"),
        ("long tasks (> 50 ms) while streaming, longest", f"{d['longTasks']}, {d['longestTask']:.0f}", "ms"),
        ("most list rows in the DOM", d["maxRows"], "rows"),
        ("most DOM elements", d["maxNodes"], ""),
        ("scroll the per-host list → painted, p50 / max", f"{d['scrollP50']:.0f} / {d['scrollMax']:.0f}", "ms"),
        ("rows in the DOM while scrolling", d["scrollRows"], "rows"),
    ]
    print("| measure | value | unit |\n|---|---|---|")
    for name, value, unit in rows:
        print(f"| {name} | {value} | {unit} |")
    if args.json:
        print(json.dumps(d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
