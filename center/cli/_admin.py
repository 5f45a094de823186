"""The other commands: plugins on hosts, accounts, approvals, the audit log, risk
checks, the code catalogue, the database schema, and the local and production roles
(``up``/``down``/``restart``, ``center``, ``proxy``). Each imports what it needs when it runs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from transports import ErrorCode, StarlingError, catalogue_markdown

from ._jobs import Held, Interrupted, interrupt_after
from ._jobs import emit_json as _emit_json
from ._jobs import follow as _follow
from ._jobs import targets as _targets
from ._lazyconsole import lazy_console
from ._views import job_doc, succeeded_all

console = lazy_console()
err_console = lazy_console(stderr=True)


def _call(args: argparse.Namespace, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """Submit ``action`` to the selected hosts and return the finished job."""
    from ._client import Client

    client = Client.from_profile(args.api)
    with interrupt_after() as pressed:
        sub = client.submit(action, params, **_targets(args), timeout=args.timeout)
    if sub["state"] == "pending_approval":
        raise Held(sub)
    if pressed:
        raise Interrupted(sub["job_id"])
    try:
        _follow(client, sub["job_id"], sub["total"], args.json)
        return job_doc(client.job(sub["job_id"]))
    except KeyboardInterrupt:
        raise Interrupted(sub["job_id"]) from None


def _read(path: str) -> bytes:
    from pathlib import Path

    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise StarlingError(f"cannot read {path}: {exc.strerror or exc}", code=ErrorCode.C001) from exc


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

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from transports import write_private

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        write_private(path, pem, exclusive=True)  # never replaces a key that is there
    except OSError as exc:
        raise StarlingError(f"cannot create {path}: {exc.strerror}", code=ErrorCode.C001) from exc
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

        digest = hashlib.sha256(_read(args.wheel)).hexdigest()
        sig = _publisher_sign(args.key, digest)
        _emit_json({"wheel": args.wheel, "sha256": digest, "signature": sig}) if args.json else print(sig)
        return 0
    if args.plugins_cmd == "doc":
        import agent_core.host

        written = agent_core.host.write_plugin_docs()
        if args.json:
            _emit_json({"written": [str(p) for p in written]})
        else:
            console.print(f"wrote {', '.join(str(p) for p in written)}" if written else "docs/plugins is up to date")
        return 0
    if args.plugins_cmd == "list":
        job = _call(args, "agent.plugins", {})
        if args.json:
            _emit_json(job)
            return 0
        ok = [r for r in job["hosts"] if r["state"] == "succeeded"]
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
        failed = [r for r in job["hosts"] if r["state"] != "succeeded"]
        if failed:
            print_summary(console, job | {"hosts": failed})
        return 0 if not failed else 1
    if args.plugins_cmd in ("enable", "disable"):
        job = _call(args, f"agent.{args.plugins_cmd}", {"names": args.names})
    elif args.plugins_cmd == "install":
        job = _call(args, "agent.install", _sign_params(args, _read(args.wheel)))
    elif args.plugins_cmd in ("rollback", "uninstall"):
        job = _call(args, f"agent.{args.plugins_cmd}", {"dist": args.dist})
    else:
        raise StarlingError(f"unknown plugins command {args.plugins_cmd}", code=ErrorCode.C001)
    if args.json:
        _emit_json(job)
    else:
        print_summary(console, job)
    return 0 if succeeded_all(job) else 1


def cmd_plugin_new(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agent_core.host import new_plugin

    try:
        path = new_plugin(args.name, Path(args.dest))
    except (ValueError, FileExistsError) as exc:
        raise StarlingError(str(exc), code=ErrorCode.C001) from exc
    console.print(f"created {path}\nnext: pip install -e {path} && pytest {path}")
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

    from .._accounts import create_account, parse_scope
    from .._config import CenterConfig, load
    from .._server import accounts_box, open_store
    from ._client import home

    path = args.config or str(home() / "center.toml")
    cfg = load(CenterConfig, path, "center")
    store = open_store(cfg)
    store.migrate()
    who = f"local:{getpass.getuser()}"
    key_id, secret = create_account(
        store, accounts_box(cfg), args.name, parse_scope(scopes), approver=args.approver, admin=args.admin, created_by=who
    )
    from .._audit import local_audit_log
    from ..security import AuditEntry

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
    from .._audit import print_report, rotate_from_config, verify_offline
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
    from .._termrecord import replay_events

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
    from ..security import EXIT_STATUS, RuleError, RuleSet, risk_check

    command = " ".join(args.command[1:] if args.command[:1] == ["--"] else args.command)
    if not command:
        raise StarlingError("give the command after --, e.g. starling risk check -- 'rm -rf /'", code=ErrorCode.C001)
    try:
        rules = RuleSet.load(args.rules) if args.rules else None
    except RuleError as exc:
        raise StarlingError(str(exc), code=ErrorCode.C030) from exc
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


def cmd_down(args: argparse.Namespace) -> int:
    from .._up import down

    return down(args)


def cmd_restart(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .._supervise import restart
    from ._client import home

    out = restart(Path(args.state_dir) if args.state_dir else home(), args.role)
    print(json.dumps(out) if args.json else f"{out['name']}: pid {out['old_pid']} -> {out['pid']}")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from .. import _migrate

    try:
        engine = sa.create_engine(args.db)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise StarlingError(f"--db is not a database URL this install can open: {exc}", code=ErrorCode.C001) from exc
    out: dict[str, Any]
    try:
        if args.db_cmd == "upgrade":
            out = {"revision": _migrate.migrate(engine), "head": _migrate.head()}
        elif args.db_cmd == "revision":
            out = {"path": _migrate.revision(engine, args.message)}
        else:
            out = {"revision": _migrate.current(engine), "head": _migrate.head(), "differences": [str(d) for d in _migrate.schema_diff(engine)]}
    except sa.exc.SQLAlchemyError as exc:
        raise StarlingError(f"the database at --db: {exc.__class__.__name__}: {str(exc).splitlines()[0]}", code=ErrorCode.C016) from exc
    finally:
        engine.dispose()
    print(json.dumps(out, indent=None if args.json else 2))
    return 0


def cmd_center(args: argparse.Namespace) -> int:
    from .._server import main_center

    return main_center(args.config)


def cmd_proxy(args: argparse.Namespace) -> int:
    from .._server import main_proxy

    return main_proxy(args.config)
