"""``starling``: the operator's command line — the parser, exit codes and error handling.

Start-up is part of the interface (``starling --help`` <= 0.25 s), so this module imports
only argparse and the error catalogue at the top. The rule for every subcommand:

- ``build_parser`` declares it; a ``cmd_*`` function (``_jobs``, ``_admin``, ``_diag``...)
  runs it.
- Everything else a subcommand needs (the API client, the server, rich tables, the store)
  is imported INSIDE its ``cmd_*`` function. ``tests/center/test_cli_startup.py`` fails if
  building the parser loads the server stack.
- A subcommand that lives in its own module declares itself there with an
  ``add_parsers(sub)`` (argparse only, no heavy imports at module top), as
  ``_setup``, ``_upgrade`` and ``_cp`` do; ``build_parser`` calls it.
- ``console`` / ``err_console`` are rich consoles created on first use
  (``_lazyconsole.lazy_console()``; use it in new CLI modules too).
- Every failure ends in ``main``: a code from the catalogue on stderr (``--json``: an
  ``{"error": ...}`` document on stdout) and an exit status from :data:`EXIT_CODES`,
  never a traceback (``STARLING_DEBUG=1`` shows one for an unexpected error).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from transports import ErrorCode, StarlingError

from . import _admin, _jobs
from ._diag import add_parsers, add_rollout, add_selection
from ._lazyconsole import lazy_console

console = lazy_console()
err_console = lazy_console(stderr=True)

#: Exit status -> what it means; printed by ``starling --help`` and in README.md.
EXIT_CODES: dict[int, str] = {
    0: "success: every host succeeded, or the command did what it was asked",
    1: "the job finished but not every host succeeded; or a check found problems (diag, audit verify, cmdb check)",
    2: "refused or failed with an error code (bad input, not permitted, not found ...): the code is printed",
    3: "the job is held for approval (C011); `starling approve JOB` releases it",
    4: "the center could not be reached (C039), or no center is configured",
    130: "interrupted (Ctrl-C) while following a job: the job keeps running; its id and how to follow or cancel it are printed",
}
#: `starling risk check` answers with its verdict instead: allow/warn 0, approve 2, block 3.
_EXIT_FOR_CODE = {ErrorCode.C011: 3, ErrorCode.C039: 4}


def exit_codes_text() -> str:
    lines = ["exit status:"] + [f"  {status:<4} {meaning}" for status, meaning in EXIT_CODES.items()]
    lines.append("  (`starling risk check` exits with its verdict: allow/warn 0, approve 2, block 3)")
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as code C040 (exit 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        raise StarlingError(f"{self.prog}: {message} (`{self.prog} --help` lists what it takes)", code=ErrorCode.C040)


def _fail(exc: StarlingError, as_json: bool) -> int:
    hint = getattr(exc, "hint", "") or exc.code.hint
    if as_json:
        _jobs.emit_json({"error": {"code": exc.code.value, "meaning": exc.code.meaning, "message": exc.message, "hint": hint}})
    else:
        from rich.markup import escape

        err_console.print(f"[bold red]{exc.code.value}[/bold red] {escape(exc.message)}\n[dim]hint: {escape(hint)}[/dim]", highlight=False)
    return _EXIT_FOR_CODE.get(exc.code, 2)


#: Commands that run trio servers in this process (everything else only makes HTTP requests).
SERVES = frozenset({"up", "center", "proxy"})


def cmd_up(args: argparse.Namespace) -> int:
    from .._up import up

    return up(args, demo=main)


def _add_targets(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("targets")
    g.add_argument("--all", action="store_true", help="every registered host")
    g.add_argument("--host", "-H", action="append", help="host id, hostname, IP or SN (repeatable)")
    g.add_argument("--tag", "-t", action="append", help="hosts with this tag (repeatable)")
    g.add_argument("--idc", help="hosts in this IDC")
    add_selection(g)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="starling", description="Run commands, copy files and call plugins on a fleet.",
                     epilog=exit_codes_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", help="center API URL (default: STARLING_API or the `starling up` profile)")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("up", help="bring up a center, a proxy and local agents on this machine")
    p.add_argument("--agents", "-n", type=_jobs.bounded(0, 10_000), default=10, help="how many local agents (default 10)")
    p.add_argument("--detach", "-d", action="store_true", help="return after start-up, leaving everything running")
    p.add_argument("--state-dir", help="where to keep state (default $STARLING_HOME or ~/.local/state/starling)")
    p.add_argument("--transport", default="tcp", choices=["tcp", "quic", "http", "auto"], help="carrier the local agents use")
    p.add_argument("--proxies", type=_jobs.bounded(1, 64), default=1, help="how many proxies (default 1); agents spread over them")
    p.add_argument("--port", type=_jobs.bounded(0, 65535), default=8470, help="first port: API, then the center's proxy link, then two per proxy (0 = pick free ports)")
    p.add_argument("--no-demo", action="store_true", help="skip the demo command")
    p.add_argument("--allow-origin", action="append", metavar="ORIGIN",
                   help="a page origin (https://portal.example:8443) that may embed the web terminal with a token (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_up)

    p = sub.add_parser("down", help="stop what `starling up` started")
    p.add_argument("--state-dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_admin.cmd_down)

    p = sub.add_parser("db", help="the center's database schema: upgrade, current, revision (Alembic migrations)")
    p.add_argument("db_cmd", choices=["upgrade", "current", "revision"])
    p.add_argument("--db", required=True, help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db")
    p.add_argument("-m", "--message", default="schema change", help="revision: what the migration does")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_admin.cmd_db)

    p = sub.add_parser("restart", help="restart one role of what `starling up` started (center, proxy-N, aNNN)")
    p.add_argument("role")
    p.add_argument("--state-dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_admin.cmd_restart)

    p = sub.add_parser("run", help="run a command (or any action) on many hosts")
    _add_targets(p)
    p.add_argument("--action", "-a", default="exec.run", help="action to call (default exec.run)")
    p.add_argument("--params", help="action params as a JSON object")
    p.add_argument("--param", "-p", action="append", help="one param as key=value (value parsed as JSON if it can be)")
    p.add_argument("--timeout", type=float, default=None, help="per-host timeout in seconds (default: the action's declared timeout)")
    p.add_argument("--offline", choices=["fail", "wait"], default="fail", help="offline hosts: fail now (E001) or wait until the deadline")
    p.add_argument("--stream", action="store_true", help="print each host's output live as it comes")
    p.add_argument("--detach", action="store_true", help="submit, print the job id and return (follow later: starling job ID --wait)")
    p.add_argument("--show-all", action="store_true", help="list every host of each group (default: the first 8)")
    p.add_argument("--json", action="store_true", help="print one JSON document (fields: docs/cli.md)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command line")
    add_rollout(p)
    p.set_defaults(fn=_jobs.cmd_run)

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
    p.set_defaults(fn=_admin.cmd_plugins)

    p = sub.add_parser("plugin", help="plugin authoring: `starling plugin new NAME`")
    psub = p.add_subparsers(dest="plugin_cmd", required=True, metavar="WHAT")
    q = psub.add_parser("new", help="make a new plugin package with its entry point and a first test")
    q.add_argument("name")
    q.add_argument("--dest", default=".", help="parent directory (default: here)")
    q.add_argument("--json", action="store_true")
    p.set_defaults(fn=_admin.cmd_plugin_new)

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
    p.add_argument("--json", action="store_true", help="print one JSON document: hosts, count, next (the cursor of the next page)")
    _jobs.add_page_options(p, 100)
    p.set_defaults(fn=_jobs.cmd_hosts)

    p = sub.add_parser("jobs", help="list recent jobs, newest first")
    p.add_argument("--state", choices=["running", "pending_approval", "done", "cancelled", "rejected"])
    p.add_argument("--action", "-a", help="only jobs of this action")
    p.add_argument("--json", action="store_true", help="print one JSON document: jobs, count, next (the cursor of the next page)")
    _jobs.add_page_options(p, 20)
    p.set_defaults(fn=_jobs.cmd_jobs)

    p = sub.add_parser("job", help="show one job's results (or --wait, --cancel, --pause, --resume)")
    p.add_argument("job_id")
    p.add_argument("--wait", action="store_true", help="follow it until every host has a result")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--cancel", action="store_true", help="cancel the job (aborts a rollout)")
    what.add_argument("--pause", action="store_true", help="pause the job's rollout: no more hosts released")
    what.add_argument("--resume", action="store_true", help="resume a paused rollout")
    p.add_argument("--show-all", action="store_true", help="list every host of each group (default: the first 8)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_jobs.cmd_job)

    for verb in ("approve", "reject"):
        p = sub.add_parser(verb, help=f"{verb} a job held for approval (needs the approver flag)")
        p.add_argument("job_id")
        p.add_argument("--json", action="store_true")
        p.set_defaults(fn=_admin.cmd_decide)

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
    q.add_argument("--actions", nargs="+", default=[], help="action patterns, e.g. 'sys.*' 'exec.run'")
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
    p.set_defaults(fn=_admin.cmd_accounts)

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
    p.set_defaults(fn=_admin.cmd_audit)

    p = sub.add_parser("risk", help="test a command against the high-risk rules: starling risk check -- 'CMD'")
    rsub = p.add_subparsers(dest="risk_cmd", required=True, metavar="WHAT")
    q = rsub.add_parser("check")
    q.add_argument("--rules", action="append", help="extra rules TOML file (repeatable)")
    q.add_argument("--json", action="store_true")
    q.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(fn=_admin.cmd_risk)

    p = sub.add_parser("codes", help="the error-code catalogue")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_admin.cmd_codes)

    add_parsers(sub, console)

    p = sub.add_parser("center", help="run a center (production)")
    p.add_argument("--config", "-c")
    p.set_defaults(fn=_admin.cmd_center)

    p = sub.add_parser("proxy", help="run a proxy (production)")
    p.add_argument("--config", "-c")
    p.set_defaults(fn=_admin.cmd_proxy)

    # Subcommands that live in their own module declare themselves there (argparse only).
    from ._setup import add_parsers as add_setup_parsers
    from ._upgrade import add_parsers as add_upgrade_parsers

    add_setup_parsers(sub)
    add_upgrade_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command line; returns its exit status (:data:`EXIT_CODES`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    try:
        args = build_parser().parse_args(argv)
    except StarlingError as exc:  # a bad command line (C040)
        return _fail(exc, as_json)
    args.argv = argv  # `starling cp` reads the operand order
    if args.cmd not in SERVES:
        import center.cli

        center.cli.SYNC_HTTP_ONLY = True
    if getattr(args, "command", None) and args.command[:1] == ["--"]:
        args.command = args.command[1:]
    as_json = bool(getattr(args, "json", False))
    try:
        return int(args.fn(args) or 0)
    except StarlingError as exc:
        return _fail(exc, as_json)
    except _jobs.Held as held:
        sub = held.sub
        if as_json:
            _jobs.emit_json(sub)
        else:
            err_console.print(f"[yellow]held for approval[/yellow] job {sub['job_id']}: {'; '.join(sub.get('reasons') or [])}")
            err_console.print(f"[dim]an approver runs: starling approve {sub['job_id']}  (or reject)[/dim]")
        return 3
    except _jobs.Interrupted as stop:
        return _jobs.say_interrupted(stop.job_id, as_json)
    except KeyboardInterrupt:
        err_console.print("\n[yellow]interrupted[/yellow]")
        return _jobs.INTERRUPTED
    except ModuleNotFoundError as exc:
        # An agent-only install has the `starling` script but not the CLI's extras.
        top = (exc.name or "").split(".")[0]
        if top not in _EXTRA_FOR:
            return _unexpected(exc, as_json)
        message = f"starling {args.cmd} needs {top}, which comes with pip install 'starling-fleet[{_EXTRA_FOR[top]}]'"
        return _fail(StarlingError(message, code=ErrorCode.C041), as_json)
    except BrokenPipeError:
        # `starling hosts | head`: the reader left; not an error worth a message.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug: still a code, and the traceback on request
        return _unexpected(exc, as_json)


def _unexpected(exc: BaseException, as_json: bool) -> int:
    if os.environ.get("STARLING_DEBUG"):
        raise exc
    return _fail(StarlingError(_describe(exc), code=ErrorCode.C041), as_json)


def _describe(exc: BaseException) -> str:
    """``Type: message`` of an unexpected error; for an exception group (trio's nurseries
    raise them), of the errors inside it, which are what went wrong."""
    if isinstance(exc, BaseExceptionGroup):
        inner = [_describe(e) for e in exc.exceptions]
        return "; ".join(inner) if inner else f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc}"


# Which extra brings a module the CLI imports lazily (pyproject.toml, [project.optional-dependencies]).
_EXTRA_FOR = {"rich": "cli", "sqlalchemy": "center", "starlette": "center", "hypercorn": "center", "bashlex": "center"}


if __name__ == "__main__":
    sys.exit(main())
