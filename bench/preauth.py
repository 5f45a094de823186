"""Benchmark: what an attacker without credentials can make a proxy and a
center hold, and whether real agents keep working meanwhile.

Starts a local Starling (``starling up`` in a temporary STARLING_HOME, real
agent processes), then attacks the proxy's agent port and the center's
proxy-link port on loopback, bounded in count and time: random bytes,
truncated frames, huge declared lengths (short attacks), then N half-open
connections and N connections each holding a partial frame (held while a job
runs on the agents). Reports RSS before, at the peak, and after, and what
happened to the connections.

    .venv/bin/python bench/preauth.py [--hold 1000] [--partial 16384] [--json]

Prints a table; with ``--json`` also one JSON object as the last line.
Numbers go to docs/security.md. Not a test.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

# bench/ holds scripts named like packages (bench/transports.py): keep them off sys.path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import trio  # noqa: E402

BIN = Path(sys.executable).parent
MIB = 1024 * 1024


def _kit() -> Any:
    spec = importlib.util.spec_from_file_location("_preauth_attack", HERE / "_preauth_attack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


kit = _kit()


def cli(home: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, STARLING_HOME=home, STARLING_AGENT_MAX_LOAD_PER_CPU="0")
    env.pop("STARLING_API", None)
    return subprocess.run([str(BIN / "starling"), *args], capture_output=True, text=True, env=env, timeout=timeout)


def job(home: str, word: str) -> tuple[bool, float]:
    t0 = time.monotonic()
    proc = cli(home, "run", "--all", "--timeout", "60", "--json", "--", f"echo {word}")
    try:
        doc = json.loads(proc.stdout)
        ok = all(h.get("stdout") == f"{word}\n" for h in doc["hosts"]) and len(doc["hosts"]) > 0
    except (ValueError, KeyError):
        ok = False
    return ok, time.monotonic() - t0


def _port(url: str) -> tuple[str, int]:
    host, port = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    return host, int(port)


async def attack(home: str, target: Any, hold: int, partial: int, sampler: Any) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for i, kind in enumerate(["random", "truncated", "huge"]):
        row[kind] = (await kit.one_shots(target, kind, 100, seed=i)).row()
    sampler.reset()
    t0 = time.monotonic()
    heavy = await kit.hold(target, hold, partial=partial, offset=hold)
    half = await kit.hold(target, hold, partial=None, offset=0)
    row["open_s"] = round(time.monotonic() - t0, 2)
    row["partial"], row["half_open"] = heavy.row(), half.row()
    ok, took = await trio.to_thread.run_sync(job, home, "during")
    row["job_during"] = {"ok": ok, "seconds": round(took, 2)}
    row["peak"] = dict(sampler.peak)
    await kit.release(heavy)
    await kit.release(half)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hold", type=int, default=1000, help="half-open connections, and as many holding a partial frame")
    ap.add_argument("--partial", type=int, default=16 * 1024, help="bytes the partial frame announces")
    ap.add_argument("--agents", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.hold > 5000:
        raise SystemExit("--hold is capped at 5000 (open files, loopback only)")
    home = tempfile.mkdtemp(prefix="starling-bench-preauth-")
    up = cli(home, "up", "--agents", str(args.agents), "--port", "0", "--detach", "--no-demo")
    if up.returncode != 0:
        raise SystemExit(up.stdout + up.stderr)
    try:
        profile = json.loads(Path(home, "up.json").read_text())
        pids = {r["role"]: r["pid"] for r in profile["roles"]}
        center = tomllib.loads(Path(home, "center.toml").read_text())["center"]
        proxy = tomllib.loads(Path(home, "proxy-1.toml").read_text())["proxy"]
        tcp = next(u for u in proxy["listen"] if u.startswith("tcp://"))
        targets = {"proxy": kit.Target(*_port(tcp)), "center link": kit.Target(*_port(center["proxy_listen"]))}
        warm_ok, _ = job(home, "warm")
        results: dict[str, Any] = {}
        with kit.RssSampler({"proxy": pids["proxy"], "center": pids["center"]}) as sampler:
            time.sleep(1)
            before = sampler.now()
            for name, target in targets.items():
                results[name] = trio.run(attack, home, target, args.hold, args.partial, sampler)
            time.sleep(8)  # the servers notice the closes and trim
            after = sampler.now()
        after_ok, _ = job(home, "after")
    finally:
        cli(home, "down")
    role_of = {"proxy": "proxy", "center link": "center"}
    print(f"pre-login attack: {args.hold} half-open + {args.hold} holding a {args.partial}-byte partial frame, per target")
    print(f"{'target':<12} {'RSS before':>10} {'peak':>8} {'after':>8} {'partial in':>10} {'half in':>8} {'refused':>8} {'huge cut':>8} {'job':>6}")
    for name, row in results.items():
        role = role_of[name]
        refused = row["partial"]["refused"] + row["partial"]["closed_by_server"] + row["half_open"]["refused"] + row["half_open"]["closed_by_server"]
        print(
            f"{name:<12} {before[role] / MIB:>9.0f}M {row['peak'][role] / MIB:>7.0f}M {after[role] / MIB:>7.0f}M "
            f"{row['partial']['held']:>10} {row['half_open']['held']:>8} {refused:>8} "
            f"{row['huge']['closed_by_server']:>4}/{row['huge']['opened']:<3} {'ok' if row['job_during']['ok'] else 'FAIL':>6}"
        )
    print(f"jobs: before {'ok' if warm_ok else 'FAIL'}, after {'ok' if after_ok else 'FAIL'}")
    if args.json:
        print(json.dumps({
            "hold": args.hold, "partial": args.partial, "before": before, "after": after,
            "targets": results, "job_before": warm_ok, "job_after": after_ok,
        }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
