"""``starling upgrade VERSION``: move agents to another package version in waves.

A canary wave first, then waves of ``--wave`` hosts. Each wave is one ``agent.upgrade``
job (held for approval like any agent replacement, see center/action_rules.toml); the
command then waits until every host of the wave has re-registered with the new version
(agents report their package version at registration). A host that does not get there
within ``--wait`` seconds failed; its agent rolls itself back (plugins/agent/upgrade.py).
When the failures pass ``--max-failures`` the rollout stops and the remaining hosts are
left alone. Every host's old -> new version is printed (``--json``: one document).

The rollout is driven from here, through the public API; when the center gains rollout
controls of its own (waves and thresholds for every job), this becomes a thin call.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from transports import ErrorCode, StarlingError


def _select(client: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    params: dict[str, Any] = {}
    if args.tag:
        params["tag"] = args.tag
    if args.idc:
        params["idc"] = args.idc
    rows = client.hosts(**params)
    if args.host:
        wanted = set(args.host)
        rows = [r for r in rows if wanted & {r.get("id"), r.get("hostname"), r.get("ip"), r.get("sn")}]
    elif not (args.all or args.tag or args.idc):
        raise StarlingError("choose targets: --all, --host H, --tag T or --idc X", code=ErrorCode.C001)
    return sorted(rows, key=lambda r: (r.get("idc", ""), r.get("hostname", "")))


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.json:
        sys.stderr.write(text + "\n")


def _run_wave(client: Any, args: argparse.Namespace, wave: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One wave: submit, wait for approval if held, then for the hosts' new version."""
    sub = client.submit("agent.upgrade", {"version": args.version, "wait": args.wait}, hosts=[h["id"] for h in wave], timeout=60)
    job_id = sub["job_id"]
    if sub.get("state") == "pending_approval":
        _say(args, f"wave of {len(wave)}: job {job_id} waits for approval (starling approve {job_id})")
        end = time.monotonic() + args.approval_timeout
        while client.job(job_id, results=False)["state"] == "pending_approval":
            if time.monotonic() > end:
                raise StarlingError(f"job {job_id} was not approved within {args.approval_timeout:.0f}s", code=ErrorCode.C011)
            time.sleep(1)
    view = client.wait(job_id, timeout=30)
    while not view["complete"]:
        view = client.wait(job_id, timeout=30)
    results = {r["host"]: r for r in client.job(job_id)["results"]}
    if view.get("state") == "rejected" or not results:
        raise StarlingError(f"job {job_id} was rejected", code=ErrorCode.C012)
    rows = []
    pending = set()
    for h in wave:
        r = results.get(h["id"], {})
        row = {"host_id": h["id"], "hostname": h.get("hostname", ""), "from": h.get("version", ""), "to": args.version, "job_id": job_id}
        if r.get("state") == "succeeded":
            pending.add(h["id"])
            row["result"] = "pending"
        else:
            row |= {"result": "failed", "code": r.get("code", ""), "message": r.get("message", "")}
        rows.append(row)
    # Scheduled hosts restart into the new version and re-register with it.
    end = time.monotonic() + args.wait + 15
    while pending and time.monotonic() < end:
        now = {h["id"]: h for h in client.hosts()}
        for hid in list(pending):
            h = now.get(hid, {})
            if h.get("version") == args.version and h.get("online"):
                pending.discard(hid)
        time.sleep(1)
    now = {h["id"]: h for h in client.hosts()}
    for row in rows:
        if row["result"] == "pending":
            if row["host"] in pending:
                row |= {"result": "failed", "code": "E005", "message": f"not running {args.version} after {args.wait}s; the agent rolls back to {row['from']}", "now": now.get(row["host"], {}).get("version", "")}
            else:
                row["result"] = "upgraded"
    return rows


def cmd_upgrade(args: argparse.Namespace) -> int:
    from ._client import Client

    client = Client.from_profile(args.api)
    hosts = _select(client, args)
    todo = [h for h in hosts if h.get("version") != args.version and h.get("online")]
    rows: list[dict[str, Any]] = [
        {"host_id": h["id"], "hostname": h.get("hostname", ""), "from": h.get("version", ""), "to": args.version,
         "result": "already" if h.get("version") == args.version else "skipped: offline"}
        for h in hosts if h not in todo
    ]
    waves = [todo[: args.canary]] + [todo[i : i + args.wave] for i in range(args.canary, len(todo), args.wave)]
    waves = [w for w in waves if w]
    failures, stopped = 0, False
    for n, wave in enumerate(waves, start=1):
        if failures > args.max_failures:
            stopped = True
            rows += [{"host_id": h["id"], "hostname": h.get("hostname", ""), "from": h.get("version", ""), "to": args.version, "result": "not attempted"} for h in wave]
            continue
        _say(args, f"wave {n}/{len(waves)}: {len(wave)} host(s)")
        done = _run_wave(client, args, wave)
        failures += sum(1 for r in done if r["result"] == "failed")
        rows += done
    doc = {
        "version": args.version,
        "waves": len(waves),
        "upgraded": sum(1 for r in rows if r["result"] == "upgraded"),
        "failed": failures,
        "stopped": stopped,
        "hosts": rows,
    }
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        for r in rows:
            extra = f"  {r.get('code', '')} {r.get('message', '')}".rstrip() if r["result"] == "failed" else ""
            sys.stdout.write(f"{r['hostname'] or r['host']:<30} {r['from']:>16} -> {r['to']:<16} {r['result']}{extra}\n")
        if stopped:
            sys.stdout.write(f"stopped: {failures} failure(s), more than --max-failures {args.max_failures}\n")
    return 0 if failures == 0 else 1


def add_parsers(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("upgrade", help="move agents to another package version in waves (canary first), rolling back failures")
    p.add_argument("version", help="starling-agent package version, e.g. 0.1.1-1.py311")
    g = p.add_argument_group("targets")
    g.add_argument("--all", action="store_true")
    g.add_argument("--host", "-H", action="append")
    g.add_argument("--tag", "-t")
    g.add_argument("--idc")
    p.add_argument("--canary", type=int, default=1, help="hosts in the first wave (default 1)")
    p.add_argument("--wave", type=int, default=10, help="hosts per later wave (default 10)")
    p.add_argument("--max-failures", type=int, default=0, help="stop after more failed hosts than this (default 0)")
    p.add_argument("--wait", type=int, default=180, help="seconds a host has to come back with the new version")
    p.add_argument("--approval-timeout", type=float, default=600.0, help="seconds to wait for a held wave's approval")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_upgrade)
