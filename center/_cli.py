"""``starling``: the operator's command line.

Start-up is part of the interface (``starling --help`` <= 0.25 s), so this module imports
only argparse and the error catalogue at the top. The rule for every subcommand:

- ``build_parser`` declares it; a ``cmd_*`` function runs it.
- Everything else a subcommand needs (the API client, the server, rich tables, the store)
  is imported INSIDE its ``cmd_*`` function, or lives in its own module that the function
  imports, e.g. ``from ._up import up``. ``tests/center/test_cli_startup.py`` fails if
  building the parser loads the server stack.
- A subcommand that lives in its own module declares itself there with an
  ``add_parsers(sub)`` (argparse only, no heavy imports at module top), as
  ``_setup_cli``, ``_upgrade_cli`` and ``_cp`` do; ``build_parser`` calls it.
- ``console`` / ``err_console`` are rich consoles created on first use
  (``center/_console.py``: ``lazy_console()``; use it in new CLI modules too).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from transports import ErrorCode, StarlingError, catalogue_markdown

from ._cli_diag import (
    add_parsers,
    add_rollout,
    add_selection,
    dry_run,
    print_notes,
    rollout,
    selection,
)
from ._lazyconsole import lazy_console, real_console

console = lazy_console()
err_console = lazy_console(stderr=True)


def _emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def _targets(args: argparse.Namespace) -> dict[str, Any]:
    t: dict[str, Any] = {}
    if args.all:
        t["all"] = True
    if args.host:
        t["hosts"] = args.host
    if args.tag:
        t["tags"] = args.tag
    if args.idc:
        t["idc"] = args.idc
    t = selection(args, t)
    if not t:
        raise StarlingError("choose targets: --all, --host H, --hosts-file F, --tag T, --idc X or a filter", code=ErrorCode.C001)
    return t


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if args.params:
        try:
            params = json.loads(args.params)
        except ValueError as exc:
            raise StarlingError(f"--params is not valid JSON: {exc}", code=ErrorCode.C001) from exc
        except RecursionError:
            raise StarlingError("--params is nested too deeply", code=ErrorCode.C001) from None
        if not isinstance(params, dict):
            raise StarlingError("--params must be a JSON object", code=ErrorCode.C001)
    for item in args.param or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise StarlingError(f"-p takes key=value, not {item!r}", code=ErrorCode.C001)
        try:
            params[key] = json.loads(value)
        except (ValueError, RecursionError):
            params[key] = value
    return params


def _flat(job: dict[str, Any]) -> dict[str, Any]:
    return {
        "job_id": job["id"],
        "action": job["action"],
        "state": job["state"],
        "total": job["total"],
        "counts": job["counts"],
        "rollout": job.get("rollout"),
        "hosts": [
            {k: r.get(k) for k in ("host", "hostname", "ip", "state", "code", "message", "exit_code", "stdout", "stderr", "data", "truncated", "diagnosis") if k in r or k != "diagnosis"}
            for r in job.get("results", [])
        ],
    }


def _follow(client: Any, job_id: str, total: int, quiet: bool) -> dict[str, Any]:
    """Wait for a job with a live progress bar (none when quiet)."""
    if quiet:
        view = client.wait(job_id, timeout=30)
        while not view["complete"]:
            view = client.wait(job_id, timeout=30)
        return view
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(), console=real_console(err_console), transient=True,
    ) as progress:
        bar = progress.add_task(job_id, total=total, detail="")
        while True:
            view = client.job(job_id, results=False)
            counts = view["counts"]
            detail = " ".join(f"{k}:{v}" for k, v in sorted(counts.items()))
            progress.update(bar, completed=view["done"], detail=detail)
            if view["complete"]:
                return view
            time.sleep(0.2)


def cmd_run(args: argparse.Namespace) -> int:
    from ._client import Client
    from ._render import print_summary

    client = Client.from_profile(args.api)
    action = args.action
    params = _params(args)
    if action == "cmd.run" and args.command:
        params["cmd"] = " ".join(args.command)
    elif action == "cmd.run" and "cmd" not in params and not args.dry_run:
        raise StarlingError("give the command after --, e.g. starling run --all -- uptime", code=ErrorCode.C001)
    elif args.command:
        raise StarlingError(f"{action} takes --params/-p, not a command", code=ErrorCode.C001)
    body: dict[str, Any] = {**_targets(args), "offline": args.offline, "stream": args.stream}
    if args.timeout is not None:
        body["timeout"] = args.timeout
    if rollout(args):
        body["rollout"] = rollout(args)
    if args.dry_run:
        return dry_run(client, {"action": action, "params": params, **body}, args.json, console)
    t0 = time.monotonic()
    sub = client.submit(action, params, **body)
    for w in sub.get("warnings") or []:
        err_console.print(f"[yellow]warning[/yellow] rule {w['rule']}: {w['message']} — {w['fragment']}")
    if sub.get("state") == "pending_approval":
        doc = {"job_id": sub["job_id"], "state": "pending_approval", "code": "C011", "reasons": sub.get("reasons", [])}
        if args.json:
            _emit_json(doc)
        else:
            err_console.print(f"[bold yellow]C011[/bold yellow] job {sub['job_id']} on {sub['total']} hosts waits for approval:")
            for r in doc["reasons"]:
                err_console.print(f"  - {r}")
            err_console.print(f"[dim]an approver runs: starling approve {sub['job_id']}  (or reject)[/dim]")
        return 3
    if args.stream and not args.json:
        # Live lines as the hosts print them, each prefixed with its host.
        width = 0
        for chunk in client.output(sub["job_id"]):
            width = max(width, len(chunk["host"]))
            style = "red" if chunk["stream"] == "stderr" else "cyan"
            for line in chunk["text"].splitlines():
                console.print(f"[{style}]{chunk['host']:<{width}}[/{style}] | {line}", highlight=False, markup=True)
        console.print()
    _follow(client, sub["job_id"], sub["total"], args.json)
    job = client.job(sub["job_id"])
    elapsed = time.monotonic() - t0
    notes: dict[str, Any] = {k: sub[k] for k in ("stale_offline", "stale_hosts", "filtered_named", "excluded") if k in sub}
    if args.json:
        _emit_json(_flat(job) | {"elapsed": round(elapsed, 3)} | notes)
    else:
        print_summary(console, job, elapsed)
        print_notes(console, notes)
    return 0 if job["counts"].get("succeeded", 0) == job["total"] else 1


def _call(args: argparse.Namespace, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """Submit ``action`` to the selected hosts and return the finished job."""
    from ._client import Client

    client = Client.from_profile(args.api)
    sub = client.submit(action, params, **_targets(args), timeout=args.timeout)
    if sub["state"] == "pending_approval":
        raise _Held(sub)
    _follow(client, sub["job_id"], sub["total"], args.json)
    return client.job(sub["job_id"])


class _Held(Exception):
    """The job waits for a second person: say so and stop (exit 3)."""

    def __init__(self, sub: dict[str, Any]) -> None:
        super().__init__(sub["job_id"])
        self.sub = sub


def _sign_params(args: argparse.Namespace, data: bytes) -> dict[str, Any]:
    import base64
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    params = {"wheel_b64": base64.b64encode(data).decode(), "sha256": digest}
    if args.signature:
        params["signature"] = args.signature
    elif args.key:
        params["signature"] = _publisher_sign(args.key, digest)
    return params


def _publisher_sign(key_file: str, digest: str) -> str:
    import base64
    from pathlib import Path

    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(Path(key_file).read_bytes(), None)
    except (OSError, ValueError) as exc:
        raise StarlingError(f"cannot read the publisher key {key_file}: {exc}", code=ErrorCode.C001) from exc
    return base64.b64encode(key.sign(digest.encode())).decode()  # type: ignore[call-arg, union-attr]


def _publisher_keygen(path: str) -> dict[str, str]:
    """A new Ed25519 publisher key (PEM, 0600); returns the public key to trust."""
    import base64
    import os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise StarlingError(f"cannot create {path}: {exc.strerror}", code=ErrorCode.C001) from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"key_file": path, "public_key": base64.b64encode(pub).decode()}


def cmd_plugins(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ._render import print_summary

    if args.plugins_cmd == "keygen":
        doc = _publisher_keygen(args.out)
        if args.json:
            _emit_json(doc)
        else:
            console.print(f"wrote {doc['key_file']}; trust it on the center with\n  plugin_publishers = [\"{doc['public_key']}\"]")
        return 0
    if args.plugins_cmd == "sign":
        import hashlib
        from pathlib import Path

        try:
            digest = hashlib.sha256(Path(args.wheel).read_bytes()).hexdigest()
        except OSError as exc:
            raise StarlingError(f"cannot read {args.wheel}: {exc.strerror}", code=ErrorCode.C001) from exc
        sig = _publisher_sign(args.key, digest)
        _emit_json({"wheel": args.wheel, "sha256": digest, "signature": sig}) if args.json else print(sig)
        return 0
    if args.plugins_cmd == "doc":
        import agent_core.host

        written = agent_core.host.write_plugin_docs()
        console.print(f"wrote {', '.join(str(p) for p in written)}" if written else "docs/plugins is up to date")
        return 0
    if args.plugins_cmd == "list":
        job = _call(args, "agent.plugins", {})
        if args.json:
            _emit_json(_flat(job))
            return 0
        ok = [r for r in job["results"] if r["state"] == "succeeded"]
        if len(ok) == 1 or args.detail:
            for r in ok:
                table = Table(title=f"{r['hostname']}: {r['data']['count']} plugins, {r['data']['actions']} actions", box=None, header_style="bold")
                for col in ("plugin", "version", "status", "actions"):
                    table.add_column(col)
                for p in r["data"]["plugins"]:
                    state = "disabled" if not p["enabled"] else ("ok" if p["available"] else f"unavailable: {p.get('reason', '')}")
                    table.add_row(p["name"], p["version"], state, ", ".join(a.split(".", 1)[-1] for a in p["actions"]))
                console.print(table)
        else:
            table = Table(box=None, header_style="bold")
            for col in ("host", "plugins", "available", "disabled", "actions"):
                table.add_column(col)
            for r in ok:
                d = r["data"]
                disabled = sum(1 for p in d["plugins"] if not p["enabled"])
                table.add_row(r["hostname"], str(d["count"]), str(d["available"]), str(disabled), str(d["actions"]))
            console.print(table)
        failed = [r for r in job["results"] if r["state"] != "succeeded"]
        if failed:
            print_summary(console, job | {"results": failed})
        return 0 if not failed else 1
    if args.plugins_cmd in ("enable", "disable"):
        job = _call(args, f"agent.{args.plugins_cmd}", {"names": args.names})
    elif args.plugins_cmd == "install":
        from pathlib import Path

        try:
            data = Path(args.wheel).read_bytes()
        except OSError as exc:
            raise StarlingError(f"cannot read {args.wheel}: {exc.strerror}", code=ErrorCode.C001) from exc
        job = _call(args, "agent.install", _sign_params(args, data))
    elif args.plugins_cmd in ("rollback", "uninstall"):
        job = _call(args, f"agent.{args.plugins_cmd}", {"dist": args.dist})
    else:
        raise StarlingError(f"unknown plugins command {args.plugins_cmd}", code=ErrorCode.C001)
    if args.json:
        _emit_json(_flat(job))
    else:
        print_summary(console, job)
    return 0 if job["counts"].get("succeeded", 0) == job["total"] else 1


def cmd_plugin_new(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agent_core.host import new_plugin

    try:
        path = new_plugin(args.name, Path(args.dest))
    except (ValueError, FileExistsError) as exc:
        raise StarlingError(str(exc), code=ErrorCode.C001) from exc
    console.print(f"created {path}\nnext: pip install -e {path} && pytest {path}")
    return 0


def cmd_hosts(args: argparse.Namespace) -> int:
    from ._client import Client
    from ._render import hosts_table

    params: dict[str, Any] = {}
    if args.online:
        params["online"] = "1"
    if args.offline:
        params["online"] = "0"
    if args.idc:
        params["idc"] = args.idc
    if args.tag:
        params["tag"] = args.tag
    for flag, key in (("tags_all", "tags_all"), ("exclude_tag", "tags_none"), ("exclude_host", "exclude"), ("os", "os"), ("agent_version", "version")):
        if getattr(args, flag):
            params[key] = getattr(args, flag)
    if args.health:
        params["health"] = args.health
    rows = Client.from_profile(args.api).hosts(**params)
    if args.json:
        _emit_json({"hosts": rows})
    else:
        console.print(hosts_table(rows, console.width))
        online = sum(1 for r in rows if r["online"])
        noun = "host" if len(rows) == 1 else "hosts"
        console.print(f"[dim]{len(rows)} {noun}, {online} online, {len(rows) - online} offline[/dim]")
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    from ._client import Client
    from ._render import jobs_table

    rows = Client.from_profile(args.api).jobs(args.limit)
    if args.json:
        _emit_json({"jobs": rows})
    else:
        console.print(jobs_table(rows))
    return 0


def cmd_job(args: argparse.Namespace) -> int:
    from ._client import Client
    from ._render import print_summary

    client = Client.from_profile(args.api)
    if args.cancel:
        doc = client.cancel(args.job_id)
        _emit_json(doc) if args.json else console.print(f"cancelling {doc['cancelling']} task(s) of {args.job_id}")
        return 0
    if args.wait:
        _follow(client, args.job_id, client.job(args.job_id, results=False)["total"], args.json)
    job = client.job(args.job_id)
    if args.json:
        _emit_json(_flat(job))
    else:
        print_summary(console, job)
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    from ._client import Client

    client = Client.from_profile(args.api)
    verb = "approve" if args.cmd == "approve" else "reject"
    doc = client.request("POST", f"/v1/jobs/{args.job_id}/{verb}")
    if args.json:
        _emit_json(doc)
    else:
        console.print(f"job {doc['job_id']}: {doc['state']}")
    return 0


def _scope_from_args(args: argparse.Namespace) -> dict[str, Any]:
    scopes: dict[str, Any] = {}
    for key in ("idcs", "tags", "hosts", "actions", "paths"):
        if getattr(args, key, None):
            scopes[key] = getattr(args, key)
    for key in ("max_hosts", "approval_hosts"):
        if getattr(args, key):
            scopes[key] = getattr(args, key)
    if args.all_hosts:
        scopes["all_hosts"] = True
    if args.danger:
        scopes["danger"] = True
    return scopes


def _create_local(args: argparse.Namespace, scopes: dict[str, Any]) -> dict[str, Any]:
    """Create an account straight in the center's database (on the center host).
    The only way to mint an approver: it needs the center's files, not an API key."""
    import getpass

    from ._accounts import create_account, parse_scope
    from ._client import home
    from ._config import CenterConfig, load
    from ._server import accounts_box, open_store

    path = args.config or str(home() / "center.toml")
    cfg = load(CenterConfig, path, "center")
    store = open_store(cfg)
    store.migrate()
    who = f"local:{getpass.getuser()}"
    key_id, secret = create_account(
        store, accounts_box(cfg), args.name, parse_scope(scopes), approver=args.approver, admin=args.admin, created_by=who
    )
    from ._audit import local_audit_log
    from .security import AuditEntry

    detail = {"name": args.name, "scopes": scopes, "approver": args.approver, "admin": args.admin, "local": True}
    local_audit_log(cfg, store).append_many([AuditEntry(who, "account.create", key_id, detail, time.time())])
    return {"key_id": key_id, "secret": secret, "name": args.name, "approver": args.approver}


def cmd_accounts(args: argparse.Namespace) -> int:
    from ._client import Client

    if args.accounts_cmd == "create":
        scopes = _scope_from_args(args)
        if args.local:
            _emit_json(_create_local(args, scopes))
            return 0
        if args.approver:
            raise StarlingError("approvers are made on the center host only: add --local", code=ErrorCode.C009)
    client = Client.from_profile(args.api)
    if args.accounts_cmd == "create":
        doc = client.request("POST", "/v1/accounts", json_body={"name": args.name, "scopes": scopes, "admin": args.admin})
    elif args.accounts_cmd == "mapping":
        doc = client.request("POST", f"/v1/accounts/{args.key_id}/mapping", json_body={"commands": args.commands})
    elif args.accounts_cmd in ("disable", "enable", "rotate"):
        doc = client.request("POST", f"/v1/accounts/{args.key_id}/{args.accounts_cmd}")
    elif args.accounts_cmd == "delete":
        doc = client.request("DELETE", f"/v1/accounts/{args.key_id}")
    else:
        doc = client.request("GET", "/v1/accounts")
    if args.json or args.accounts_cmd != "list":
        _emit_json(doc)
    else:
        from rich.table import Table

        table = Table(box=None, header_style="bold")
        for col in ("key id", "name", "admin", "approver", "disabled", "mapping", "created by", "scopes"):
            table.add_column(col)
        for a in doc["accounts"]:
            table.add_row(a["key_id"], a["name"], str(a["admin"]), str(a["approver"]), str(a["disabled"]), str(a["mapping"]),
                          a.get("created_by", ""), json.dumps(a["scopes"]))
        console.print(table)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from ._audit import print_report, rotate_from_config, verify_offline
    from ._client import Client

    if args.audit_cmd == "rotate-key":
        return rotate_from_config(args.config, console)
    if args.audit_cmd == "verify":
        # Offline (-c): read the database, key and anchors directly, without trusting a running center.
        doc = verify_offline(args.config) if args.config else Client.from_profile(args.api).request("GET", "/v1/audit/verify")
        if args.json:
            _emit_json(doc)
        else:
            print_report(doc, console, err_console)
        return 0 if doc["ok"] else 1
    client = Client.from_profile(args.api)
    if args.audit_cmd == "replay":
        return _replay(client, args)
    params: dict[str, Any] = {"after": args.after, "limit": args.limit}
    if args.subject:
        params["subject"] = args.subject
    doc = client.request("GET", "/v1/audit", params=params)
    if args.json:
        _emit_json(doc)
    else:
        for r in doc["records"]:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["time"]))
            console.print(f"{r['seq']:>6} {when} [bold]{r['actor']}[/bold] {r['kind']} {r['subject']}")
    return 0


def _replay(client: Any, args: argparse.Namespace) -> int:
    """Print a terminal session's output from the audit log, in order (docs/console.md)."""
    from ._termrecord import replay_events

    records: list[dict[str, Any]] = []
    after = 0
    while True:
        page = client.request("GET", "/v1/audit", params={"after": after, "limit": 10000, "subject": args.session})["records"]
        records += [r for r in page if r["subject"] == args.session and r["kind"].startswith("terminal.")]
        if len(page) < 10000:
            break
        after = page[-1]["seq"]
    if not records:
        raise StarlingError(f"no terminal session {args.session} in the audit log", code=ErrorCode.C004)
    events = list(replay_events(records, args.session))
    if args.json:
        _emit_json({"session": args.session, "records": [r for r in records if r["kind"] != "terminal.record"],
                    "events": [{"t": t, "kind": {"i": "input", "o": "output", "r": "refused"}[k], "text": x} for t, k, x in events]})
        return 0
    opened = next((r for r in records if r["kind"] == "terminal.open"), None)
    if opened is not None:
        d = opened["detail"] or {}
        err_console.print(f"session {args.session}: {opened['actor']} on {d.get('hostname') or d.get('host')} "
                          f"at {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(opened['time']))} (job {d.get('job')})")
    last = 0.0
    for t, kind, text in events:
        if args.timing and t > last:
            time.sleep(min(t - last, 5.0) / max(args.speed, 0.01))
        last = t
        if kind == "o":
            sys.stdout.write(text)
            sys.stdout.flush()
        elif kind == "r" and args.refused:
            err_console.print(f"[red]refused[/red] {text}")
    closed = next((r for r in records if r["kind"] == "terminal.close"), None)
    if closed is not None:
        d = closed["detail"] or {}
        err_console.print(f"\nended: {d.get('message') or ''} status={d.get('status')} code={d.get('code')} "
                          f"refused={d.get('refused')}{' (output record cut at the cap)' if d.get('truncated') else ''}")
    return 0


def cmd_risk(args: argparse.Namespace) -> int:
    from .security import EXIT_STATUS, RuleSet, risk_check

    command = " ".join(args.command[1:] if args.command[:1] == ["--"] else args.command)
    if not command:
        raise StarlingError("give the command after --, e.g. starling risk check -- 'rm -rf /'", code=ErrorCode.C001)
    rules = RuleSet.load(args.rules) if args.rules else None
    data, line = risk_check(command, rules)
    if args.json:
        _emit_json(data)
    else:
        console.print(line)
    return int(EXIT_STATUS[data["verdict"]])


def cmd_codes(args: argparse.Namespace) -> int:
    if args.markdown:
        sys.stdout.write(catalogue_markdown())
    elif args.json:
        _emit_json({"codes": [c.describe() for c in ErrorCode]})
    else:
        for c in ErrorCode:
            console.print(f"[bold]{c.value}[/bold] {c.meaning} [dim]— {c.hint}[/dim]")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from ._up import up

    return up(args)


def cmd_down(args: argparse.Namespace) -> int:
    from ._up import down

    return down(args)


def cmd_restart(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ._client import home
    from ._supervise import restart

    out = restart(Path(args.state_dir) if args.state_dir else home(), args.role)
    print(json.dumps(out) if args.json else f"{out['name']}: pid {out['old_pid']} -> {out['pid']}")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from . import _migrate

    engine = sa.create_engine(args.db)
    out: dict[str, Any]
    try:
        if args.db_cmd == "upgrade":
            out = {"revision": _migrate.migrate(engine), "head": _migrate.head()}
        elif args.db_cmd == "revision":
            out = {"path": _migrate.revision(engine, args.message)}
        else:
            out = {"revision": _migrate.current(engine), "head": _migrate.head(), "differences": [str(d) for d in _migrate.schema_diff(engine)]}
    finally:
        engine.dispose()
    print(json.dumps(out, indent=None if args.json else 2))
    return 0


def cmd_center(args: argparse.Namespace) -> int:
    from ._server import main_center

    return main_center(args.config)


def cmd_proxy(args: argparse.Namespace) -> int:
    from ._server import main_proxy

    return main_proxy(args.config)


def _add_targets(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("targets")
    g.add_argument("--all", action="store_true", help="every registered host")
    g.add_argument("--host", "-H", action="append", help="host id, hostname, IP or SN (repeatable)")
    g.add_argument("--tag", "-t", action="append", help="hosts with this tag (repeatable)")
    g.add_argument("--idc", help="hosts in this IDC")
    add_selection(g)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="starling", description="Run commands, copy files and call plugins on a fleet.")
    parser.add_argument("--api", help="center API URL (default: STARLING_API or the `starling up` profile)")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    p = sub.add_parser("up", help="bring up a center, a proxy and local agents on this machine")
    p.add_argument("--agents", "-n", type=int, default=10, help="how many local agents (default 10)")
    p.add_argument("--detach", "-d", action="store_true", help="return after start-up, leaving everything running")
    p.add_argument("--state-dir", help="where to keep state (default $STARLING_HOME or ~/.local/state/starling)")
    p.add_argument("--transport", default="tcp", choices=["tcp", "quic", "http", "auto"], help="carrier the local agents use")
    p.add_argument("--proxies", type=int, default=1, help="how many proxies (default 1); agents spread over them")
    p.add_argument("--port", type=int, default=8470, help="first port: API, then the center's proxy link, then two per proxy (0 = pick free ports)")
    p.add_argument("--no-demo", action="store_true", help="skip the demo command")
    p.add_argument("--allow-origin", action="append", metavar="ORIGIN",
                   help="a page origin (https://portal.example:8443) that may embed the web terminal with a token (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_up)

    p = sub.add_parser("down", help="stop what `starling up` started")
    p.add_argument("--state-dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_down)

    p = sub.add_parser("db", help="the center's database schema: upgrade, current, revision (Alembic migrations)")
    p.add_argument("db_cmd", choices=["upgrade", "current", "revision"])
    p.add_argument("--db", required=True, help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db")
    p.add_argument("-m", "--message", default="schema change", help="revision: what the migration does")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_db)

    p = sub.add_parser("restart", help="restart one role of what `starling up` started (center, proxy-N, aNNN)")
    p.add_argument("role")
    p.add_argument("--state-dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_restart)

    p = sub.add_parser("run", help="run a command (or any action) on many hosts")
    _add_targets(p)
    p.add_argument("--action", "-a", default="cmd.run", help="action to call (default cmd.run)")
    p.add_argument("--params", help="action params as a JSON object")
    p.add_argument("--param", "-p", action="append", help="one param as key=value (value parsed as JSON if it can be)")
    p.add_argument("--timeout", type=float, default=None, help="per-host timeout in seconds (default: the action's declared timeout)")
    p.add_argument("--offline", choices=["fail", "wait"], default="fail", help="offline hosts: fail now (E001) or wait until the deadline")
    p.add_argument("--stream", action="store_true", help="print each host's output live as it comes")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command line")
    add_rollout(p)
    p.set_defaults(fn=cmd_run)

    from ._cp import add_parser as add_cp

    add_cp(sub)

    p = sub.add_parser("plugins", help="plugins on hosts: list, enable, disable, install a wheel, roll back, uninstall; doc")
    psub = p.add_subparsers(dest="plugins_cmd", required=True, metavar="WHAT")
    for name, helptext in (
        ("list", "plugins per host (one host: the full table)"),
        ("enable", "enable plugins on the selected hosts"),
        ("disable", "disable plugins on the selected hosts"),
        ("install", "install a plugin wheel on the selected hosts, no restart"),
        ("rollback", "go back to the previous version of a plugin package"),
        ("uninstall", "remove a plugin package from the selected hosts"),
    ):
        q = psub.add_parser(name, help=helptext)
        _add_targets(q)
        q.add_argument("--timeout", type=float, default=120.0)
        q.add_argument("--json", action="store_true")
        if name == "list":
            q.add_argument("--detail", action="store_true", help="the full table for every host")
        if name in ("enable", "disable"):
            q.add_argument("names", nargs="+", help="plugin names")
        if name == "install":
            q.add_argument("--wheel", required=True, help="the .whl file")
            q.add_argument("--key", help="sign with this publisher key (PEM) before sending")
            q.add_argument("--signature", help="the publisher's signature (from `starling plugins sign`)")
        if name in ("rollback", "uninstall"):
            q.add_argument("dist", help="the package as `install` reports it, e.g. starling_hello (or starling-hello)")
    q = psub.add_parser("keygen", help="make a plugin publisher key (the center trusts its public half)")
    q.add_argument("out", help="where to write the private key (PEM, 0600)")
    q.add_argument("--json", action="store_true")
    q = psub.add_parser("sign", help="sign a wheel with a publisher key; prints the signature")
    q.add_argument("wheel")
    q.add_argument("--key", required=True)
    q.add_argument("--json", action="store_true")
    q = psub.add_parser("doc", help="regenerate docs/plugins (catalogue and hook reference)")
    q.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_plugins)

    p = sub.add_parser("plugin", help="plugin authoring: `starling plugin new NAME`")
    psub = p.add_subparsers(dest="plugin_cmd", required=True, metavar="WHAT")
    q = psub.add_parser("new", help="make a new plugin package with its entry point and a first test")
    q.add_argument("name")
    q.add_argument("--dest", default=".", help="parent directory (default: here)")
    q.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_plugin_new)

    p = sub.add_parser("hosts", help="list hosts and their status")
    p.add_argument("--online", action="store_true")
    p.add_argument("--offline", action="store_true")
    p.add_argument("--idc")
    p.add_argument("--tag", action="append", help="hosts with any of these tags (repeatable)")
    p.add_argument("--tags-all", action="append", metavar="TAG", help="hosts with every one of these tags")
    p.add_argument("--exclude-tag", action="append", metavar="TAG")
    p.add_argument("--exclude-host", action="append", metavar="HOST")
    p.add_argument("--os", action="append", help="OS name pattern, e.g. 'Debian*'")
    p.add_argument("--agent-version", action="append", metavar="CONSTRAINT", help="'>=0.2', '<1', '0.1.*'")
    p.add_argument("--health", choices=["healthy", "unhealthy"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_hosts)

    p = sub.add_parser("jobs", help="list recent jobs")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_jobs)

    p = sub.add_parser("job", help="show one job's results (or --wait, --cancel)")
    p.add_argument("job_id")
    p.add_argument("--wait", action="store_true")
    p.add_argument("--cancel", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_job)

    for verb in ("approve", "reject"):
        p = sub.add_parser(verb, help=f"{verb} a job held for approval (needs the approver flag)")
        p.add_argument("job_id")
        p.add_argument("--json", action="store_true")
        p.set_defaults(fn=cmd_decide)

    p = sub.add_parser("accounts", help="API accounts: list, create, disable, enable, rotate, delete, mapping (admin)")
    asub = p.add_subparsers(dest="accounts_cmd", required=True, metavar="WHAT")
    q = asub.add_parser("list")
    q.add_argument("--json", action="store_true")
    q = asub.add_parser("create", help="a new account (allowed nothing unless scoped); prints its key id and secret once")
    q.add_argument("name")
    q.add_argument("--idcs", nargs="+", default=[])
    q.add_argument("--tags", nargs="+", default=[])
    q.add_argument("--hosts", nargs="+", default=[])
    q.add_argument("--all-hosts", action="store_true", help="every host (otherwise only --idcs/--tags/--hosts)")
    q.add_argument("--actions", nargs="+", default=[], help="action patterns, e.g. 'sys.*' 'cmd.run'")
    q.add_argument("--danger", action="store_true", help="let patterns match danger actions too (else name them exactly)")
    q.add_argument("--max-hosts", type=int, default=0)
    q.add_argument("--approval-hosts", type=int, default=0, help="jobs on more hosts need approval")
    q.add_argument("--paths", nargs="+", default=[], help="globs of the paths file actions may write, e.g. '/opt/app/*'")
    q.add_argument("--approver", action="store_true", help="may approve others' held jobs (needs --local)")
    q.add_argument("--admin", action="store_true")
    q.add_argument("--local", action="store_true", help="write the center's database directly (on the center host)")
    q.add_argument("--config", help="the center's config file for --local (default: $STARLING_HOME/center.toml)")
    q.add_argument("--json", action="store_true")
    for verb, text in (("disable", "refuse its requests from now on"), ("enable", "accept its requests again"),
                       ("rotate", "a new secret, shown once; the old one stops working"), ("delete", "remove it")):
        q = asub.add_parser(verb, help=text)
        q.add_argument("key_id")
        q.add_argument("--json", action="store_true")
    q = asub.add_parser("mapping", help="give an account private aliases for commands (shown once)")
    q.add_argument("key_id")
    q.add_argument("commands", nargs="+")
    q.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_accounts)

    p = sub.add_parser("audit", help="the hash-chained audit log: list, verify")
    asub = p.add_subparsers(dest="audit_cmd", required=True, metavar="WHAT")
    q = asub.add_parser("verify", help="check the MAC chain and its anchors: edits, deletions, re-hashed chains, cut tails")
    q.add_argument("-c", "--config", help="verify offline from this center.toml (database, audit key, anchors) instead of asking the center")
    q.add_argument("--json", action="store_true")
    q = asub.add_parser("rotate-key", help="add a new audit key to the center's key ring (old records stay verifiable)")
    q.add_argument("-c", "--config", required=True, help="the center.toml whose audit key ring to rotate")
    q = asub.add_parser("replay", help="print a web-terminal session's output from the audit log, in order")
    q.add_argument("session", help="the session id (the `ready` frame's `session`)")
    q.add_argument("--timing", action="store_true", help="pause between outputs as the session did (at most 5 s each)")
    q.add_argument("--speed", type=float, default=1.0, help="with --timing: play this many times faster")
    q.add_argument("--refused", action="store_true", help="also show refused lines (on stderr)")
    q.add_argument("--json", action="store_true")
    q = asub.add_parser("list")
    q.add_argument("--subject", help="only records about this subject (a job, an account, a terminal session)")
    q.add_argument("--after", type=int, default=0)
    q.add_argument("--limit", type=int, default=50)
    q.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_audit)

    p = sub.add_parser("risk", help="test a command against the high-risk rules: starling risk check -- 'CMD'")
    rsub = p.add_subparsers(dest="risk_cmd", required=True, metavar="WHAT")
    q = rsub.add_parser("check")
    q.add_argument("--rules", action="append", help="extra rules TOML file (repeatable)")
    q.add_argument("--json", action="store_true")
    q.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_risk)

    p = sub.add_parser("codes", help="the error-code catalogue")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_codes)

    add_parsers(sub, console)

    p = sub.add_parser("center", help="run a center (production)")
    p.add_argument("--config", "-c")
    p.set_defaults(fn=cmd_center)

    p = sub.add_parser("proxy", help="run a proxy (production)")
    p.add_argument("--config", "-c")
    p.set_defaults(fn=cmd_proxy)

    # Subcommands that live in their own module declare themselves there (argparse only).
    from ._setup_cli import add_parsers as add_setup_parsers
    from ._upgrade_cli import add_parsers as add_upgrade_parsers

    add_setup_parsers(sub)
    add_upgrade_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # `starling cp` reads the operand order
    if getattr(args, "command", None) and args.command[:1] == ["--"]:
        args.command = args.command[1:]
    try:
        return int(args.fn(args) or 0)
    except StarlingError as exc:
        hint = getattr(exc, "hint", "") or exc.code.hint
        if getattr(args, "json", False):
            _emit_json({"error": {"code": exc.code.value, "meaning": exc.code.meaning, "message": exc.message, "hint": hint}})
        else:
            err_console.print(f"[bold red]{exc.code.value}[/bold red] {exc.message}\n[dim]hint: {hint}[/dim]")
        return 2
    except _Held as held:
        sub = held.sub
        if getattr(args, "json", False):
            _emit_json(sub)
        else:
            err_console.print(f"[yellow]held for approval[/yellow] job {sub['job_id']}: {'; '.join(sub.get('reasons') or [])}")
            err_console.print(f"[dim]an approver runs: starling approve {sub['job_id']}  (or reject)[/dim]")
        return 3
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as exc:
        # An agent-only install has the `starling` script but not the CLI's extras.
        top = (exc.name or "").split(".")[0]
        if top not in _EXTRA_FOR:
            raise
        sys.stderr.write(f"starling {args.cmd}: needs {top}, which comes with pip install 'starling-fleet[{_EXTRA_FOR[top]}]'\n")
        return 2


# Which extra brings a module the CLI imports lazily (pyproject.toml, [project.optional-dependencies]).
_EXTRA_FOR = {"rich": "cli", "sqlalchemy": "center", "starlette": "center", "hypercorn": "center", "bashlex": "center"}


if __name__ == "__main__":
    sys.exit(main())
