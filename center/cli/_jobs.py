"""``starling run``, ``job``, ``jobs``, ``hosts``: submitting work and reading it back.

Progress comes from the center's server-sent events (``GET /v1/jobs/{job}/events``),
one message per change, not from polling. Ctrl-C while following leaves the job
running and says how to follow or cancel it (exit 130); ``--detach`` submits and
prints the job id at once. Every ``--json`` document is made in ``_views``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

from transports import ErrorCode, StarlingError

from ._diag import dry_run, print_notes, rollout, selection
from ._lazyconsole import is_terminal, lazy_console, real_console
from ._views import host_doc, job_doc, succeeded_all

console = lazy_console()
err_console = lazy_console(stderr=True)

#: Page size when ``--all`` walks every page (the API's largest job page is 10,000).
ALL_PAGE = 5000
#: Exit status when a follow is interrupted (128 + SIGINT, as shells report it).
INTERRUPTED = 130


def emit_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def targets(args: argparse.Namespace) -> dict[str, Any]:
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


def params_of(args: argparse.Namespace) -> dict[str, Any]:
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
        if not sep or not key:
            raise StarlingError(f"-p takes key=value, not {item!r}", code=ErrorCode.C001)
        try:
            params[key] = json.loads(value)
        except (ValueError, RecursionError):
            params[key] = value
    return params


class Held(Exception):
    """The job waits for a second person: say so and stop (exit 3)."""

    def __init__(self, sub: dict[str, Any]) -> None:
        super().__init__(sub["job_id"])
        self.sub = sub


class Interrupted(Exception):
    """Ctrl-C while following a job: the job goes on; ``job_id`` says which."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


@contextlib.contextmanager
def interrupt_after() -> Iterator[list[bool]]:
    """Hold a first Ctrl-C until the block ends (the list it yields turns ``[True]``):
    a submit that the center may already have stored must return its job id, or the
    user could not follow or cancel what runs on their hosts. A second Ctrl-C
    interrupts at once. Outside the main thread it changes nothing."""
    pressed: list[bool] = []

    def hold(signum: int, frame: Any) -> None:
        if pressed:
            raise KeyboardInterrupt
        pressed.append(True)

    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:  # the caller ignores Ctrl-C (nohup, a background job)
        yield pressed
        return
    try:
        signal.signal(signal.SIGINT, hold)
    except ValueError:  # not the main thread: signals are not ours to handle
        yield pressed
        return
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def follow(client: Any, job_id: str, total: int, quiet: bool) -> None:
    """Wait until the job completes, from its server-sent progress events, with a live
    progress bar on stderr when it is a terminal (none when ``quiet``: the bar is drawn
    only on a terminal anyway, and loading it costs ~30 ms of CPU while the job runs).
    Ctrl-C raises :class:`Interrupted`."""
    try:
        if quiet or not is_terminal(sys.stderr):
            for _view in client.progress(job_id):
                pass
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(), console=real_console(err_console), transient=True,
        ) as progress:
            bar = progress.add_task(job_id, total=total, detail="")
            for view in client.progress(job_id):
                detail = " ".join(f"{k}:{v}" for k, v in sorted(view["counts"].items()))
                progress.update(bar, completed=view["done"], detail=detail)
    except KeyboardInterrupt:
        raise Interrupted(job_id) from None


def say_interrupted(job_id: str, as_json: bool) -> int:
    """What Ctrl-C prints: the job keeps running; how to follow or cancel it."""
    if as_json:
        emit_json({"job_id": job_id, "state": "running", "interrupted": True,
                   "follow": f"starling job {job_id} --wait", "cancel": f"starling job {job_id} --cancel"})
    else:
        err_console.print(f"\n[yellow]interrupted[/yellow]: job [bold]{job_id}[/bold] keeps running on the hosts")
        err_console.print(f"  follow it:  starling job {job_id} --wait\n  cancel it:  starling job {job_id} --cancel")
    return INTERRUPTED


def preload(module: str) -> None:
    """Import ``module`` in a background thread while this one waits on the center (the
    job's progress): the summary's renderer (rich: ~30 ms of CPU) is ready when the job
    is done instead of loading after it. A failed import is left for the real one to
    report."""
    import importlib
    import threading

    def load() -> None:
        with contextlib.suppress(Exception):
            importlib.import_module(module)

    threading.Thread(target=load, name=f"preload {module}", daemon=True).start()


def finished_job(client: Any, job_id: str) -> dict[str, Any]:
    return job_doc(client.job(job_id))


def cmd_run(args: argparse.Namespace) -> int:
    from ._client import Client

    client = Client.from_profile(args.api)
    action = args.action
    params = params_of(args)
    if action == "exec.run" and args.command:
        params["cmd"] = " ".join(args.command)
    elif action == "exec.run" and "cmd" not in params and not args.dry_run:
        raise StarlingError("give the command after --, e.g. starling run --all -- uptime", code=ErrorCode.C001)
    elif args.command:
        raise StarlingError(f"{action} takes --params/-p, not a command", code=ErrorCode.C001)
    body: dict[str, Any] = {**targets(args), "offline": args.offline, "stream": args.stream}
    if args.timeout is not None:
        body["timeout"] = args.timeout
    if rollout(args):
        body["rollout"] = rollout(args)
    if args.dry_run:
        return dry_run(client, {"action": action, "params": params, **body}, args.json, console)
    t0 = time.monotonic()
    with interrupt_after() as pressed:
        sub = client.submit(action, params, **body)
    job_id = sub["job_id"]
    if pressed and sub.get("state") != "pending_approval":
        raise Interrupted(job_id)
    for w in sub.get("warnings") or []:
        err_console.print(f"[yellow]warning[/yellow] rule {w['rule']}: {w['message']} — {w['fragment']}")
    if sub.get("state") == "pending_approval":
        doc = {"job_id": job_id, "state": "pending_approval", "total": sub.get("total"), "code": "C011", "reasons": sub.get("reasons", [])}
        if args.json:
            emit_json(doc)
        else:
            err_console.print(f"[bold yellow]C011[/bold yellow] job {job_id} on {sub['total']} hosts waits for approval:")
            for r in doc["reasons"]:
                err_console.print(f"  - {r}")
            err_console.print(f"[dim]an approver runs: starling approve {job_id}  (or reject)[/dim]")
        return 3
    notes: dict[str, Any] = {k: sub[k] for k in ("stale_offline", "stale_hosts", "filtered_named", "excluded") if k in sub}
    if args.detach:
        doc = {"job_id": job_id, "state": sub.get("state", "running"), "total": sub["total"]} | notes
        if args.json:
            emit_json(doc)
        else:
            print(job_id)
            err_console.print(f"[dim]submitted to {sub['total']} host(s); follow: starling job {job_id} --wait[/dim]")
        return 0
    if not args.json:
        preload("center.cli._render")
    try:
        if args.stream and not args.json:
            _print_stream(client, job_id)
        follow(client, job_id, sub["total"], args.json)
        job = finished_job(client, job_id)
    except KeyboardInterrupt:
        raise Interrupted(job_id) from None
    except StarlingError as exc:
        if exc.code is not ErrorCode.C039:
            raise
        # The link to the center broke after the submit: the job runs on; say which it is.
        raise StarlingError(f"{exc.message}; job {job_id} was submitted and may still run: "
                            f"starling job {job_id} --wait (or --cancel)", code=exc.code) from exc
    elapsed = time.monotonic() - t0
    if args.json:
        emit_json(job | {"elapsed": round(elapsed, 3)} | notes)
    else:
        from ._render import print_summary

        print_summary(console, job, elapsed, show_all=args.show_all)
        print_notes(console, notes)
    return 0 if succeeded_all(job) else 1


def _print_stream(client: Any, job_id: str) -> None:
    """Live lines as the hosts print them, each prefixed with its host (stderr in red)."""
    width = 0
    for chunk in client.output(job_id):
        width = max(width, len(chunk["host"]))
        style = "red" if chunk["stream"] == "stderr" else "cyan"
        for line in chunk["text"].splitlines():
            console.print(f"[{style}]{chunk['host']:<{width}}[/{style}] | {line}", highlight=False, markup=True)
    console.print()


def cmd_job(args: argparse.Namespace) -> int:
    from ._client import Client

    client = Client.from_profile(args.api)
    if args.cancel:
        doc = client.cancel(args.job_id)
        emit_json(doc | {"job_id": args.job_id}) if args.json else console.print(f"cancelling {doc['cancelling']} task(s) of {args.job_id}")
        return 0
    if args.pause or args.resume:
        doc = client.pause(args.job_id) if args.pause else client.resume(args.job_id)
        r = doc["rollout"]
        emit_json(doc) if args.json else console.print(
            f"rollout of {args.job_id}: {r['state']}, wave {r['wave'] + 1}/{r['waves']}, {r['released']}/{r['runnable']} host(s) released")
        return 0
    if args.wait:
        follow(client, args.job_id, client.job(args.job_id, results=False)["total"], args.json)
    job = finished_job(client, args.job_id)
    if args.json:
        emit_json(job)
    else:
        from ._render import print_summary

        print_summary(console, job, show_all=args.show_all)
    return 0 if not job["complete"] or succeeded_all(job) else 1


def _paged(client: Any, path: str, key: str, params: dict[str, Any], args: argparse.Namespace) -> tuple[list[dict[str, Any]], str | None]:
    """One page (``--limit``, from ``--page``), or every page with ``--all``."""
    if args.page:
        params["cursor"] = args.page
    if not args.all:
        doc = client.request("GET", path, params=params | {"limit": args.limit})
        return doc[key], doc.get("next")
    # Every page: large ones (fewer round trips), whatever --limit says of one page.
    params["limit"] = ALL_PAGE
    return [row for page in client.pages(path, key, params) for row in page[key]], None


def _more(nxt: str | None, command: str) -> None:
    if nxt:
        err_console.print(f"[dim]more: {command} --page {nxt}   (or --all)[/dim]")


def cmd_hosts(args: argparse.Namespace) -> int:
    from ._client import Client

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
    rows, nxt = _paged(Client.from_profile(args.api), "/v1/hosts", "hosts", params, args)
    hosts = [host_doc(r) for r in rows]
    if args.json:
        emit_json({"hosts": hosts, "count": len(hosts), "next": nxt})
        return 0
    from ._render import hosts_table

    console.print(hosts_table(hosts, console.width))
    online = sum(1 for r in hosts if r["online"])
    noun = "host" if len(hosts) == 1 else "hosts"
    console.print(f"[dim]{len(hosts)} {noun}{' on this page' if nxt else ''}, {online} online, {len(hosts) - online} offline[/dim]")
    _more(nxt, "starling hosts")
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    from ._client import Client

    params: dict[str, Any] = {}
    if args.state:
        params["state"] = args.state
    if args.action:
        params["action"] = args.action
    rows, nxt = _paged(Client.from_profile(args.api), "/v1/jobs", "jobs", params, args)
    jobs = [job_doc(r, results=False) for r in rows]
    if args.json:
        emit_json({"jobs": jobs, "count": len(jobs), "next": nxt})
        return 0
    from ._render import jobs_table

    console.print(jobs_table(jobs))
    _more(nxt, "starling jobs")
    return 0


def bounded(lo: int, hi: int) -> Any:
    """An argparse type: an integer within [lo, hi] (else a C040 naming the bounds)."""

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is not within {lo}..{hi}")
        return value

    parse.__name__ = "integer"
    return parse


def add_page_options(p: argparse.ArgumentParser, default: int) -> None:
    g = p.add_argument_group("paging")
    g.add_argument("--limit", type=bounded(1, 10_000), default=default, metavar="N", help=f"at most N per page (default {default}, at most 10000)")
    g.add_argument("--page", metavar="CURSOR", help="the page after this cursor (printed under the previous page; `next` in --json)")
    g.add_argument("--all", action="store_true", help="every page, in one listing")
