"""``starling upgrade VERSION``: move agents to another package version, a thin client of
the center's rollout controls.

It submits ONE ``agent.upgrade`` job with a rollout (canary wave first, growing waves,
``--max-failures`` as the error threshold); the center releases each wave when the
previous one is back on the new version, fails a host that comes back on its old
version or not at all (A026; its agent rolls itself back, plugins/agent/upgrade.py) and
stops the rollout past the threshold (C034 for the hosts left). The job is held for
approval like any agent replacement (center/action_rules.toml). ``starling job JOB
--pause | --resume | --cancel`` controls it while it runs; ``--detach`` returns at once.
Every host's old -> new version is printed from the job's results (``--json``: one
document). See center/_upgrades.py for the center's side.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from transports import ErrorCode, StarlingError

from ._jobs import Interrupted, interrupt_after


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


def _row(h: dict[str, Any], version: str, result: str) -> dict[str, Any]:
    return {"host_id": h["id"], "hostname": h.get("hostname", ""), "from": h.get("version", ""), "to": version, "result": result}


def _outcome(task: dict[str, Any], host: dict[str, Any], version: str) -> dict[str, Any]:
    """One host's line from its task: the center records from/to/now in the task's data."""
    raw = task.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    row = _row(host, version, "") | {"job_id": task["task_id"].rsplit("-", 1)[0]}
    row["from"] = data.get("from") or row["from"]
    state, code = task["state"], task.get("code", "")
    if state == "succeeded":
        row["result"] = "upgraded"
    elif state == "cancelled" and code == ErrorCode.C034.value:
        row["result"] = "not attempted"
    elif state == "cancelled":
        row |= {"result": "cancelled", "code": code, "message": task.get("message", "")}
    else:
        row |= {"result": "failed", "code": code, "message": task.get("message", "")}
    if data.get("now"):
        row["now"] = data["now"]
    return row


def _await(client: Any, args: argparse.Namespace, job_id: str) -> dict[str, Any]:
    """Until the job is complete: say when it waits for approval and when a wave moves."""
    said = ""
    end = time.monotonic() + args.approval_timeout
    while True:
        view = client.wait(job_id, timeout=5)
        if view.get("complete"):
            return view
        if view.get("state") == "pending_approval":
            if time.monotonic() > end:
                raise StarlingError(f"job {job_id} was not approved within {args.approval_timeout:.0f}s", code=ErrorCode.C011)
            line = f"job {job_id} waits for approval (starling approve {job_id})"
            time.sleep(1)
        else:
            r = client.job(job_id, results=False).get("rollout") or {}
            line = (f"job {job_id}: rollout {r.get('state', '?')}, wave {r.get('wave', 0) + 1}/{r.get('waves', 0)}, "
                    f"{r.get('released', 0)}/{r.get('runnable', 0)} host(s) released")
        if line != said:
            _say(args, line)
            said = line


def cmd_upgrade(args: argparse.Namespace) -> int:
    from ._client import Client

    client = Client.from_profile(args.api)
    hosts = _select(client, args)
    todo = [h for h in hosts if h.get("version") != args.version and h.get("online")]
    rows = [_row(h, args.version, "already" if h.get("version") == args.version else "skipped: offline") for h in hosts if h not in todo]
    doc: dict[str, Any] = {"version": args.version, "job_id": None, "waves": 0, "upgraded": 0, "failed": 0, "stopped": False, "hosts": rows}
    if todo:
        rollout: dict[str, Any] = {"canary": min(args.canary, len(todo)), "growth": args.growth, "max_failures": args.max_failures}
        if args.pause:
            rollout["pause"] = args.pause
        with interrupt_after() as pressed:
            sub = client.submit("agent.upgrade", {"version": args.version, "wait": args.wait}, hosts=[h["id"] for h in todo], timeout=60, rollout=rollout)
        job_id = doc["job_id"] = sub["job_id"]
        if pressed:
            raise Interrupted(job_id)
        _say(args, f"job {job_id}: {args.version} on {len(todo)} host(s), canary {rollout['canary']} "
                   f"(starling job {job_id} --pause | --resume | --cancel)")
        if args.detach:
            if args.json:
                sys.stdout.write(json.dumps(doc, indent=2) + "\n")
            return 0
        try:
            view = _await(client, args, job_id)
        except KeyboardInterrupt:
            raise Interrupted(job_id) from None
        if view.get("state") == "rejected":
            raise StarlingError(f"job {job_id} was rejected", code=ErrorCode.C012)
        job = client.job(job_id)
        by_id = {h["id"]: h for h in todo}
        rows += [_outcome(t, by_id.get(t["host"], {"id": t["host"]}), args.version) for t in job.get("results", [])]
        r = job.get("rollout") or {}
        doc |= {"waves": r.get("waves", 0), "stopped": r.get("state") == "stopped", "reason": r.get("reason", "")}
    doc["upgraded"] = sum(1 for r in rows if r["result"] == "upgraded")
    doc["failed"] = sum(1 for r in rows if r["result"] == "failed")
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        for r in rows:
            extra = f"  {r.get('code', '')} {r.get('message', '')}".rstrip() if r["result"] in ("failed", "cancelled") else ""
            sys.stdout.write(f"{r['hostname'] or r['host_id']:<30} {r['from']:>16} -> {r['to']:<16} {r['result']}{extra}\n")
        if doc["stopped"]:
            sys.stdout.write(f"stopped: {doc.get('reason') or 'the error threshold was reached'}\n")
    return 0 if doc["failed"] == 0 and not doc["stopped"] else 1


def add_parsers(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("upgrade", help="move agents to another package version: a center-side rollout in waves (canary first), failures rolled back")
    p.add_argument("version", help="starling-agent package version, e.g. 0.1.1-1.py311")
    g = p.add_argument_group("targets")
    g.add_argument("--all", action="store_true")
    g.add_argument("--host", "-H", action="append")
    g.add_argument("--tag", "-t")
    g.add_argument("--idc")
    g = p.add_argument_group("rollout (the center's controls)")
    g.add_argument("--canary", type=int, default=1, help="hosts in the first wave (default 1)")
    g.add_argument("--growth", type=float, default=2.0, help="each later wave this many times the previous (default 2)")
    g.add_argument("--max-failures", type=int, default=0, help="stop after more failed hosts than this (default 0)")
    g.add_argument("--pause", type=float, default=0.0, help="seconds between waves")
    p.add_argument("--wait", type=int, default=180, help="seconds a host has to come back with the new version before it rolls back")
    p.add_argument("--approval-timeout", type=float, default=600.0, help="seconds to wait for the job's approval")
    p.add_argument("--detach", action="store_true", help="submit and return; follow with starling job JOB")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_upgrade)
