"""CLI parts for targeting, rollouts, diagnosis, host lifecycle and the CMDB:
``--tags-all/--exclude-tag/--hosts-file/...``, ``--concurrency/--canary/...``,
``starling run --dry-run``, ``starling diag``, ``starling forget|revoke``,
``starling cmdb import|check|sync|list``."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich loads only when a command prints (keeps `starling --help` fast)
    from rich.console import Console

from transports import ErrorCode, StarlingError

_AMOUNT = re.compile(r"^\d{1,3}(\.\d{1,3})?%$|^\d+$")


def add_selection(g: Any) -> None:
    """Selection flags beyond --all/--host/--tag/--idc (an argument group)."""
    g.add_argument("--hosts-file", help="host names, one or more per line ('-' = stdin; '#' comments)")
    g.add_argument("--tags-all", action="append", metavar="TAG", help="hosts must carry every one of these tags (AND; repeatable)")
    g.add_argument("--exclude-tag", action="append", metavar="TAG", help="leave out hosts with this tag (repeatable)")
    g.add_argument("--exclude-host", action="append", metavar="HOST", help="leave out this host (repeatable)")
    g.add_argument("--os", action="append", help="OS name pattern, e.g. 'Debian*' (repeatable: any)")
    g.add_argument("--agent-version", action="append", metavar="CONSTRAINT", help="agent version constraint: '>=0.2', '<1', '0.1.*' (repeatable: all)")
    g.add_argument("--health", choices=["healthy", "unhealthy"], help="only hosts diagnosed healthy (or unhealthy) now")


def add_rollout(p: argparse.ArgumentParser, *, dry_run: bool = True) -> None:
    g = p.add_argument_group("rollout")
    g.add_argument("--concurrency", help="at most this many hosts at once: a number or a percentage ('10%%')")
    g.add_argument("--max-failures", help="stop the job once more than this many hosts failed: a number or a percentage")
    g.add_argument("--canary", type=int, default=0, help="first wave of this many hosts, then growing waves")
    g.add_argument("--growth", type=float, default=2.0, help="each wave this many times the previous (default 2)")
    g.add_argument("--pause", type=float, default=0.0, help="seconds to wait between waves")
    g.add_argument("--skip-unhealthy", action="store_true", help="do not run hosts diagnosed unhealthy now (recorded as C033)")
    if dry_run:  # `starling cp` has a dry run of its own (what would change on each host)
        p.add_argument("--dry-run", action="store_true", help="print the hosts the selection resolves to, and their count; run nothing")


def _amount(value: str | None, flag: str) -> int | str | None:
    if value is None:
        return None
    if not _AMOUNT.match(value):
        raise StarlingError(f"{flag} takes a number or a percentage like 10%, not {value!r}", code=ErrorCode.C001)
    return value if value.endswith("%") else int(value)


def selection(args: argparse.Namespace, t: dict[str, Any]) -> dict[str, Any]:
    """Add the extra selection flags to a request body's targets."""
    path = getattr(args, "hosts_file", None)
    if path:
        from .._hostlist import read_host_list

        try:
            lines = sys.stdin.read().splitlines() if path == "-" else open(path, encoding="utf-8").read().splitlines()  # noqa: SIM115
        except OSError as exc:
            raise StarlingError(f"cannot read {path}: {exc.strerror}", code=ErrorCode.C001) from exc
        names = read_host_list(lines)
        if not names:
            raise StarlingError(f"no host names in {'stdin' if path == '-' else path}", code=ErrorCode.C001)
        t["hosts"] = [*t.get("hosts", []), *names]
    sel: dict[str, Any] = {}
    for flag, key in (("tags_all", "tags_all"), ("exclude_tag", "tags_none"), ("exclude_host", "exclude_hosts"), ("os", "os"), ("agent_version", "versions")):
        if getattr(args, flag, None):
            sel[key] = getattr(args, flag)
    if getattr(args, "health", None):
        sel["health"] = args.health
    if sel:
        t["select"] = sel
        if not (t.get("hosts") or t.get("tags") or t.get("idc") or t.get("all")):
            t["all"] = True  # filters alone refine the whole fleet
    return t


def rollout(args: argparse.Namespace) -> dict[str, Any] | None:
    r: dict[str, Any] = {}
    conc = _amount(getattr(args, "concurrency", None), "--concurrency")
    fails = _amount(getattr(args, "max_failures", None), "--max-failures")
    if conc is not None:
        r["concurrency"] = conc
    if fails is not None:
        r["max_failures"] = fails
    if getattr(args, "canary", 0):
        r["canary"] = args.canary
        r["growth"] = args.growth
    if getattr(args, "pause", 0.0):
        r["pause"] = args.pause
    if getattr(args, "skip_unhealthy", False):
        r["skip_unhealthy"] = True
    return r or None


def dry_run(client: Any, body: dict[str, Any], as_json: bool, console: Console) -> int:
    from rich.table import Table

    doc = client.request("POST", "/v1/targets", json_body=body)
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        return 0
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("hostname", "ip", "idc", "status", "version", "tags"):
        table.add_column(col, no_wrap=True, overflow="ellipsis")
    for h in doc["hosts"]:
        status = "online" if h["online"] else f"offline {h.get('code') or ''}".strip()
        if h.get("skip"):
            status += " (skip: unhealthy)"
        table.add_row(h["hostname"], h["ip"], h["idc"], status, h.get("version") or "", ",".join(h.get("tags") or []))
    console.print(table)
    console.print(f"[bold]{doc['count']} host{'s' if doc['count'] != 1 else ''}[/bold] would run (dry run: nothing was submitted)")
    print_notes(console, doc)
    if doc.get("rollout"):
        ro = doc["rollout"]
        console.print(f"[dim]rollout: waves end at {ro['waves']}, {ro['first_release']} released first, {ro['skipped']} skipped[/dim]")
    return 0


def print_notes(console: Console, doc: dict[str, Any]) -> None:
    """What the selection left out, in words."""
    if doc.get("stale_offline"):
        console.print(f"[yellow]{doc['stale_offline']} host(s) offline longer than the center's offline_after left out of --all[/yellow]: {', '.join(doc.get('stale_hosts', [])[:8])}")
    if doc.get("filtered_named"):
        console.print(f"[yellow]named but filtered out by the tags/IDC/filters[/yellow]: {', '.join(doc['filtered_named'][:8])}")
    if doc.get("excluded"):
        console.print(f"[dim]{doc['excluded']} host(s) left out by the filters[/dim]")
    if doc.get("revoked"):
        console.print(f"[dim]revoked (never run): {', '.join(doc['revoked'][:8])}[/dim]")


def print_diagnoses(console: Console, rows: list[dict[str, Any]], limit: int = 10) -> None:
    """One line per failed host with a diagnosis: code, summary, owner."""
    from rich.text import Text

    shown = 0
    for r in rows:
        d = r.get("diagnosis")
        if not d or not d.get("code") or shown >= limit:
            continue
        shown += 1
        line = Text("  ↳ ")
        line.append(f"{r.get('hostname') or r.get('host')}: ", style="bold")
        if d.get("code"):
            line.append(f"{d['code']} ", style="bold red")
        line.append(d.get("summary", ""))
        line.append(f"  owner: {d.get('owner') or '(not in CMDB)'}", style="cyan")
        console.print(line)
    extra = sum(1 for r in rows if (r.get("diagnosis") or {}).get("code")) - shown
    if extra > 0:
        console.print(Text(f"  … {extra} more diagnoses in --json", style="dim"))


def print_rollout(console: Console, job: dict[str, Any]) -> None:
    from rich.text import Text

    ro = job.get("rollout")
    if not ro:
        return
    style = "bold red" if ro["state"] == "stopped" else "dim"
    line = f"rollout {ro['state']}: wave {ro['wave'] + 1}/{ro['waves']}, {ro['released']}/{ro['runnable']} released"
    if ro.get("reason"):
        line += f" — {ro['reason']}"
    console.print(Text(line, style=style))


def cmd_diag(args: argparse.Namespace, console: Console) -> int:
    from rich.text import Text

    from ._client import Client

    client = Client.from_profile(args.api)
    doc = client.request("GET", f"/v1/hosts/{args.host}/diag", params={"live": "0" if args.no_live else "1"})
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        return 0 if doc["healthy"] else 1
    h = doc["host"]
    console.print(Text.assemble((f"{h['hostname']}", "bold"), f"  {h['ip']}  IDC {h['idc']}  agent {h.get('version') or '?'}  ",
                                ("owner: " + (doc.get("owner") or "(not in CMDB)"), "cyan")))
    for hop in doc.get("hops", []):
        mark = Text("  ok  ", style="green") if hop["ok"] else Text("  FAIL", style="bold red")
        console.print(Text.assemble(mark, f" {hop['hop']:<14} {hop['detail']}"))
    if doc["healthy"]:
        console.print(Text("healthy: no problem found", style="green"))
    for f in doc["findings"]:
        console.print(Text.assemble((f"{f['code']} ", "bold red"), f["summary"]))
        console.print(Text(f"     {json.dumps(f['evidence'], default=str)}", style="dim"))
    return 0 if doc["healthy"] else 1


def cmd_lifecycle(args: argparse.Namespace, console: Console) -> int:
    from ._client import Client

    client = Client.from_profile(args.api)
    if args.cmd == "forget":
        doc = client.request("DELETE", f"/v1/hosts/{args.host}", params={"force": "1"} if args.force else None)
        msg = f"forgot {doc['hostname']} ({doc['host']})"
    elif args.cmd == "revoke":
        doc = client.request("POST", f"/v1/hosts/{_host_id(client, args.host)}/revoke")
        msg = f"revoked {args.host}: its credential is refused from now on"
    else:
        doc = client.request("POST", f"/v1/hosts/{_host_id(client, args.host)}/restore")
        msg = f"restored {args.host}: its credential is accepted again"
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    else:
        console.print(msg)
    return 0


def _host_id(client: Any, name: str) -> str:
    rows = client.hosts(host=name)
    if not rows:
        raise StarlingError(f"unknown host {name!r}", code=ErrorCode.C002)
    return str(rows[0]["id"])


def cmd_cmdb(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from ._client import Client

    client = Client.from_profile(args.api)
    if args.cmdb_cmd == "import":
        from .._cmdb_sources import FileSource

        records = FileSource(args.file, args.format or "").fetch()
        doc = client.request("POST", "/v1/cmdb/import", json_body={"records": [_rec(r) for r in records], "replace": not args.merge})
        msg = f"imported {doc['imported']} CMDB record(s)" + (" (merged)" if args.merge else "")
    elif args.cmdb_cmd == "sync":
        doc = client.request("POST", "/v1/cmdb/sync")
        msg = f"tags updated on {doc['updated']} host(s)"
    elif args.cmdb_cmd == "list":
        doc = client.request("GET", "/v1/cmdb")
        msg = ""
        if not args.json:
            table = Table(box=None, header_style="bold", pad_edge=False)
            for col in ("hostname", "ip", "sn", "owner", "idc", "tags"):
                table.add_column(col, no_wrap=True, overflow="ellipsis")
            for r in doc["records"]:
                table.add_row(r["hostname"], r["ip"], r["sn"], r["owner"], r["idc"], ",".join(r["tags"]))
            console.print(table)
    else:
        doc = client.request("GET", "/v1/cmdb/check")
        if args.json:
            sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
            return 0 if doc["ok"] else 1
        table = Table(box=None, header_style="bold", pad_edge=False)
        for col in ("kind", "host", "detail"):
            table.add_column(col, overflow="fold")
        for i in doc["issues"]:
            who = (i.get("agent") or {}).get("hostname") or (i.get("cmdb") or {}).get("hostname") or i.get("value", "")
            table.add_row(i["kind"], who or "", i["detail"])
        if doc["issues"]:
            console.print(table)
        counts = ", ".join(f"{k} {v}" for k, v in doc["counts"].items() if v)
        console.print(f"{doc['cmdb_records']} CMDB records, {doc['agents']} agents: " + (f"[red]{len(doc['issues'])} mismatch(es)[/red] ({counts})" if doc["issues"] else "[green]consistent[/green]"))
        return 0 if doc["ok"] else 1
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    elif msg:
        console.print(msg)
    return 0


def _rec(r: Any) -> dict[str, Any]:
    import msgspec

    return dict(msgspec.to_builtins(r))


def add_parsers(sub: Any, console: Console) -> None:
    p = sub.add_parser("diag", help="diagnose a host now: each hop, agent health, disk, load, time, owner")
    p.add_argument("host", help="host id, hostname, IP or SN")
    p.add_argument("--no-live", action="store_true", help="only what the center knows; run nothing on the host")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=lambda a: cmd_diag(a, console))

    for verb, helptext in (("forget", "remove a host from the registry (admin); it re-registers if its agent comes back"),
                           ("revoke", "cut a host off and refuse its credential from now on (admin)"),
                           ("restore", "undo a host's revocation (admin)")):
        p = sub.add_parser(verb, help=helptext)
        p.add_argument("host", help="host id, hostname, IP or SN")
        if verb == "forget":
            p.add_argument("--force", action="store_true", help="even while it is online")
        p.add_argument("--json", action="store_true")
        p.set_defaults(fn=lambda a: cmd_lifecycle(a, console))

    p = sub.add_parser("cmdb", help="the CMDB: import an export, check it against the agents, sync tags")
    csub = p.add_subparsers(dest="cmdb_cmd", required=True, metavar="WHAT")
    q = csub.add_parser("import", help="load a CSV or JSON export (SN, IP, hostname, owner, IDC, tags)")
    q.add_argument("file")
    q.add_argument("--format", choices=["csv", "json"])
    q.add_argument("--merge", action="store_true", help="add to the records instead of replacing them")
    q.add_argument("--json", action="store_true")
    for name, helptext in (("check", "every mismatch between the CMDB and what agents report"), ("sync", "merge CMDB tags into hosts' tags"), ("list", "the records")):
        q = csub.add_parser(name, help=helptext)
        q.add_argument("--json", action="store_true")
    p.set_defaults(fn=lambda a: cmd_cmdb(a, console))


def since(ts: float | None) -> str:
    return f"{time.time() - ts:.0f}s ago" if ts else "never"
