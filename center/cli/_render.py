"""Terminal rendering for the CLI: tables and job summaries that fit a terminal."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

#: The marker shown where the agent cut a task's output at its limit (1 MiB).
TRUNCATED = "[output truncated]"

STATE_STYLE = {"succeeded": "green", "failed": "red", "timed_out": "yellow", "cancelled": "magenta"}


def host_label(r: dict[str, Any]) -> str:
    return r.get("hostname") or r.get("host_id") or "?"


def _data_key(data: Any) -> str:
    """Structured data as canonical JSON, so equal data groups together whatever its key order."""
    return "" if data is None else json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))


def group_results(results: list[dict[str, Any]]) -> list[tuple[tuple[Any, ...], list[dict[str, Any]]]]:
    """Group hosts with identical outcome: state, code, exit code, output, structured
    ``data`` and whether the output was cut. Hosts that printed the same text but
    returned different data land in different groups."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        key = (
            r["state"], r.get("code", ""), r.get("exit_code"), r.get("stdout", ""), r.get("stderr", ""),
            r.get("message", "") if r.get("code") else "", _data_key(r.get("data")), bool(r.get("truncated")),
        )
        groups[key].append(r)
    return sorted(groups.items(), key=lambda kv: (kv[0][0] != "succeeded", -len(kv[1])))


def _hosts_line(rows: list[dict[str, Any]], limit: int | None = 8) -> str:
    """The group's host names: the first ``limit`` (None: every one)."""
    names = sorted(host_label(r) for r in rows)
    if limit is None or len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" … +{len(names) - limit} more (--show-all lists them)"


def _labelled(label: str, text: str, style: str = "") -> Text:
    """A block of output under its stream's name, indented so it reads as one host group's."""
    out = Text(f"  {label}:\n", style="dim")
    out.append(Text("\n".join("    " + line for line in _clip(text).splitlines()), style=style))
    return out


def _clip(text: str, lines: int = 20) -> str:
    parts = text.rstrip("\n").splitlines()
    if len(parts) > lines:
        return "\n".join(parts[:lines]) + f"\n… ({len(parts) - lines} more lines)"
    return "\n".join(parts)


def print_summary(console: Console, job: dict[str, Any], elapsed: float | None = None, *, show_all: bool = False) -> None:
    """A job document (``_views.job_doc``) for people: one block per group of hosts
    with the same outcome; ``show_all`` lists every host of a group."""
    results = job.get("hosts") or []
    counts = job.get("counts") or {}
    total = job.get("total", len(results))
    ok = counts.get("succeeded", 0)
    head = Text()
    head.append(f"job {job['job_id']}  ", style="bold")
    head.append(f"{job['action']}  ")
    head.append(f"{ok}/{total} succeeded", style="green" if ok == total else "yellow")
    failed = total - ok
    if failed:
        head.append(f"  {failed} not succeeded", style="red")
    if elapsed is not None:
        head.append(f"  in {elapsed:.2f}s", style="dim")
    if job.get("truncated"):
        head.append(f"  output cut at 1 MiB on {job['truncated']} host(s)", style="bold yellow")
    console.print(head)
    from ._diag import print_diagnoses, print_rollout

    print_rollout(console, job)
    for (state, code, exit_code, stdout, stderr, message, _data, truncated), rows in group_results(results):
        style = STATE_STYLE.get(state, "cyan")
        label = Text()
        label.append(f"\n● {len(rows)} host{'s' if len(rows) != 1 else ''} ", style=f"bold {style}")
        label.append(state, style=style)
        if code:
            label.append(f"  {code}", style="bold")
            meaning = rows[0].get("meaning", "")
            if meaning:
                label.append(f" {meaning}")
        if exit_code is not None:
            label.append(f"  exit={exit_code}", style="dim")
        if truncated:
            label.append(f"  {TRUNCATED}", style="bold yellow")
        console.print(label)
        console.print(Text("  " + _hosts_line(rows, None if show_all else 8), style="dim"))
        if state != "succeeded":
            print_diagnoses(console, rows)
        if message and message != rows[0].get("meaning"):
            console.print(Text("  " + message))
        if stdout:
            console.print(_labelled("stdout", stdout))
        if stderr:
            console.print(_labelled("stderr", stderr, "red"))
        data = rows[0].get("data")
        if data is not None and not stdout:
            console.print(Text(_clip(json.dumps(data, indent=2, default=str), 40)))
        hint = rows[0].get("hint")
        if code and hint:
            console.print(Text(f"  hint: {hint}", style="italic dim"))


def hosts_table(rows: list[dict[str, Any]], width: int = 120) -> Table:
    """Hosts, narrowest useful columns first: a long host id and the proxy are
    dropped on a narrow terminal (``--json`` has everything)."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    wide = width >= 110
    cols = ["hostname", "ip", "idc", "status", "health", "version", "tags", "load", "seen"] + (["owner", "proxy", "host id"] if wide else [])
    for col in cols:
        table.add_column(col, no_wrap=True, overflow="ellipsis")
    now = time.time()
    for r in rows:
        health = r.get("health") or {}
        status = Text("online", style="green") if r["online"] else Text(f"offline {r.get('code') or ''}".strip(), style="red")
        seen = f"{now - r['last_seen']:.0f}s ago" if r.get("last_seen") else "never"
        load = f"{health.get('load1', 0):.2f}/{health.get('cpus', '?')}" if health else ""
        diag = r.get("diagnosis") or {}
        health_cell = Text("ok", style="green") if diag.get("healthy", True) else Text(f"{diag.get('code', '')} {diag.get('summary', '')}".strip(), style="red")
        cells = [r["hostname"], r["ip"], r["idc"], status, health_cell, r.get("version") or "", ",".join(r.get("tags") or []), load, seen]
        if wide:
            cells += [r.get("owner") or "", r.get("proxy_id") or "", r["host_id"]]
        table.add_row(*cells)
    return table


def jobs_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("job id", "action", "hosts", "state", "created", "account"):
        table.add_column(col, no_wrap=col == "job id")
    for r in rows:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["created"]))
        state = r["state"] if r["complete"] or r["state"] != "running" else f"running {r['done']}/{r['total']}"
        table.add_row(r["job_id"], r["action"], str(r["total"]), state, created, r.get("account") or "")
    return table
