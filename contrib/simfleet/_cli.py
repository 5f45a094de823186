"""``starling-simfleet``: run N simulated agents, in one process or several.

With ``--procs P`` (P > 1) this process only supervises: it starts P fleet
processes, each with its own range of identities (``--first``), its own
state directory (``<state-dir>/p<k>``), journal and status file, and writes
the sum of their status files to ``<state-dir>/status.json`` every second.
Several processes are needed past ~19,000 identities: every process here is
capped at 20,000 open files.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import trio

from agent_core.host import RegistrationError
from transports import settle_heap, setup_logging

from ._fleet import SimFleet

#: The fleet process's young-generation threshold (see :func:`transports.settle_heap`).
FLEET_YOUNG_THRESHOLD = 200_000

log = logging.getLogger("starling.simfleet")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="starling-simfleet",
        description="N simulated agent identities speaking the real protocol (the agent's own session) over real carriers.",
    )
    p.add_argument("--center", action="append", required=True, help="center API URL (repeat for several)")
    p.add_argument("--proxy", action="append", default=[], help="enroll through this proxy URL, batched (repeat for several; default: HTTPS to the center)")
    p.add_argument("--ca", default="", help="CA bundle for the center's and proxies' certificates")
    p.add_argument("--token", required=True, help="fleet enrollment token")
    p.add_argument("--count", type=int, required=True, help="number of identities")
    p.add_argument("--idc", default="default", help="IDC every identity reports")
    p.add_argument("--state-dir", required=True, help="journal, key seed and status.json go here")
    p.add_argument("--transport", default="tcp", help="carrier scheme: tcp, quic or http")
    p.add_argument("--prefix", default="sim", help="identities are PREFIX-FIRST .. PREFIX-(FIRST+N-1)")
    p.add_argument("--first", type=int, default=0, help="index of the first identity")
    p.add_argument("--procs", type=int, default=1, help="fleet processes to spread the identities over")
    p.add_argument("--source", action="append", default=[], help="source address to bind (repeat: identities are spread over them)")
    p.add_argument("--concurrency", type=int, default=16, help="registrations in flight at once (per process)")
    p.add_argument("--heartbeat", type=float, default=10.0, help="heartbeat interval when the proxy does not say")
    p.add_argument("--backoff-min", type=float, default=0.5, help="first reconnect delay (jittered)")
    p.add_argument("--backoff-max", type=float, default=30.0, help="reconnect delay cap")
    p.add_argument("--no-verify", action="store_true", help="skip task signature checks (agents verify by default)")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--log-file", default="")
    return p


async def _serve(fleet: SimFleet) -> None:
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:

            async def watch() -> None:
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    return

            nursery.start_soon(watch)
            # The process holds thousands of sessions, and a job keeps thousands of tasks'
            # objects alive at once: every collection in a job walks all of them (0.1-0.7 s
            # a job at 2,000). A real agent's heap is a few thousand objects; this
            # process's collector is the simulation's cost, not the agent's: collect seldom.
            nursery.start_soon(partial(settle_heap, population=lambda: sum(fleet.by_proxy.values()), young=FLEET_YOUNG_THRESHOLD))
            try:
                await fleet.run()
            finally:
                nursery.cancel_scope.cancel()


def _child_argv(argv: list[str], first: int, count: int, state_dir: Path, log_file: str) -> list[str]:
    """This command line for one child: its range, its state dir, one process."""
    args = build_parser().parse_args(argv)
    out = [sys.executable, "-m", "contrib.simfleet._cli"]
    for c in args.center:
        out += ["--center", c]
    for s in args.source:
        out += ["--source", s]
    for u in args.proxy:
        out += ["--proxy", u]
    out += [
        "--ca", args.ca, f"--token={args.token}", "--count", str(count), "--idc", args.idc,
        "--state-dir", str(state_dir), "--transport", args.transport, "--prefix", args.prefix,
        "--first", str(first), "--concurrency", str(args.concurrency), "--heartbeat", str(args.heartbeat),
        "--backoff-min", str(args.backoff_min), "--backoff-max", str(args.backoff_max),
        "--log-level", args.log_level, "--log-file", log_file,
    ]
    if args.no_verify:
        out.append("--no-verify")
    return out


def merge_status(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The sum of several fleet processes' status documents."""
    out: dict[str, Any] = {"pid": os.getpid(), "pids": [d["pid"] for d in docs], "count": 0, "registered": 0,
                           "connected": 0, "by_proxy": {}, "executions": 0, "executed_twice": 0, "journal": {},
                           "rss": 0, "stats": {}, "time": time.time()}
    for d in docs:
        for k in ("count", "registered", "connected", "executions", "executed_twice", "rss"):
            out[k] += d[k]
        for k in ("by_proxy", "journal", "stats"):
            for name, n in d[k].items():
                out[k][name] = out[k].get(name, 0) + n
    return out


def supervise(args: argparse.Namespace, argv: list[str]) -> int:
    """Run ``args.procs`` fleet processes and keep their summed status."""
    root = Path(args.state_dir)
    root.mkdir(parents=True, exist_ok=True)
    per, extra = divmod(args.count, args.procs)
    children: list[subprocess.Popen[bytes]] = []
    first = args.first
    stop = {"now": False}

    def on_signal(signum: int, frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for k in range(args.procs):
        n = per + (1 if k < extra else 0)
        sub = root / f"p{k}"
        log_file = f"{args.log_file}.p{k}" if args.log_file else ""
        children.append(subprocess.Popen(_child_argv(argv, first, n, sub, log_file), stdin=subprocess.DEVNULL))
        first += n
    try:
        while not stop["now"] and all(c.poll() is None for c in children):
            docs = []
            for k in range(args.procs):
                try:
                    docs.append(json.loads((root / f"p{k}" / "status.json").read_text()))
                except (OSError, ValueError):
                    pass
            if docs:
                tmp = root / "status.tmp"
                tmp.write_text(json.dumps({**merge_status(docs), "procs": len(docs)}))
                tmp.replace(root / "status.json")
            time.sleep(1)
    finally:
        for c in children:
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)
        for c in children:
            try:
                c.wait(20)
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()
    return 0 if stop["now"] else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.count < 1 or args.procs < 1:
        print("starling-simfleet: --count and --procs must be at least 1", file=sys.stderr)
        return 2
    if args.procs > 1:
        return supervise(args, argv)
    setup_logging(args.log_level, args.log_file, role="simfleet")
    fleet = SimFleet(
        centers=args.center, token=args.token, count=args.count, idc=args.idc, state_dir=args.state_dir,
        ca_file=args.ca, transport=args.transport, prefix=args.prefix, first=args.first,
        concurrency=args.concurrency, sources=args.source, heartbeat=args.heartbeat,
        backoff_min=args.backoff_min, backoff_max=args.backoff_max, verify_signatures=not args.no_verify,
        proxies=args.proxy,
    )
    try:
        trio.run(_serve, fleet)
    except RegistrationError as exc:
        print(f"starling-simfleet: {exc.code}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        fleet.write_status()
        fleet.journal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
