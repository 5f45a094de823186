"""``starling cp``: copy files to hosts, or collect a file from hosts.

    starling cp ./app.tar.gz --tag web:/opt/app/releases/42/     # to hosts
    starling cp ./conf --all :/etc/app/ --mode 0640 --owner app  # a directory, to every host
    starling cp --host web-17:/var/log/app.log ./logs/            # from hosts: ./logs/web-17/app.log

A target option may end in ``:PATH`` (or give ``:PATH`` as an operand); as in
``cp SRC DST``, whichever comes first on the command line — the local path or
the first target — is the source.

To hosts: the local files are cut into chunks and hashed; the center is asked
which chunks it lacks and only those are uploaded (an interrupted upload
resumes); then one ``file.install`` job carries the manifest to the hosts,
which skip identical files and fetch the rest through their proxy. Hosts that
failed because an agent restarted or lost its link mid-way are tried again
(``--retries``): they keep the chunks they had verified, so only the rest
travels. From hosts: one ``file.collect`` job streams each host's file to the
center's chunk store; the CLI then downloads each host's chunks one at a time,
verifies them and the whole file, and renames it into place.
"""

from __future__ import annotations

import argparse
import os
import stat as st
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transports import ErrorCode, StarlingError

from ._lazyconsole import lazy_console, real_console

if TYPE_CHECKING:
    from rich.progress import Progress

# rich loads when something prints: `starling --help` imports this module for its parser.
err_console = lazy_console(stderr=True)
console = lazy_console()

CHUNK_SIZE = 4 * 1024 * 1024
#: Codes of hosts worth trying again at once: the agent restarted or lost its link mid-way.
RETRYABLE = frozenset({"A007", "A020", "P002", "C005"})
TARGET_FLAGS = ("--host", "--tag", "--idc", "--all")


# -- the command line ---------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    p = sub.add_parser("cp", help="copy files to hosts, or collect a file from hosts", description=__doc__.split("\n\n")[1] if __doc__ else "")
    p.add_argument("paths", nargs="+", metavar="PATH", help="the local path, and optionally :REMOTE_PATH")
    p.add_argument("--host", action="append", default=[], help="HOST[:PATH] (repeatable)")
    p.add_argument("--tag", action="append", default=[], help="TAG[:PATH] (repeatable)")
    p.add_argument("--idc", default="", help="IDC[:PATH]")
    p.add_argument("--all", default=None, nargs="?", const="", metavar=":PATH", help="every host ([:PATH])")
    p.add_argument("--dry-run", action="store_true", help="only say what would change: new, differing, same")
    from ._diag import add_rollout

    add_rollout(p, dry_run=False)
    p.add_argument("--mode", help="permission bits for every file, e.g. 0640 (default: the source's)")
    p.add_argument("--owner")
    p.add_argument("--group")
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--retries", type=int, default=1, help="rounds for hosts interrupted mid-way (default 1)")
    p.add_argument("--max-bytes", type=int, default=1 << 30, help="size cap per collected file (default 1 GiB)")
    p.add_argument("--chunk-size", type=int, default=CHUNK_SIZE)
    p.add_argument("--offline", default="fail", choices=["fail", "wait"])
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true")
    p.add_argument("--api", help="center API URL (default: from the profile)")
    p.set_defaults(fn=cmd_cp)


def _split(value: str) -> tuple[str, str | None]:
    name, sep, path = value.partition(":")
    return name, (path if sep else None)


def parse_targets(args: argparse.Namespace, argv: list[str]) -> tuple[dict[str, Any], str, str, bool]:
    """``(targets, remote_path, local_path, to_hosts)`` from the parsed args."""
    targets: dict[str, Any] = {}
    remote: list[str] = []
    hosts, tags = [], []
    for h in args.host:
        name, path = _split(h)
        hosts.append(name)
        remote += [path] if path else []
    for t in args.tag:
        name, path = _split(t)
        tags.append(name)
        remote += [path] if path else []
    if hosts:
        targets["hosts"] = hosts
    if tags:
        targets["tags"] = tags
    if args.idc:
        name, path = _split(args.idc)
        targets["idc"] = name
        remote += [path] if path else []
    if args.all is not None:
        targets["all"] = True
        if args.all:
            remote.append(args.all.lstrip(":"))
    local = [p for p in args.paths if not p.startswith(":")]
    remote += [p[1:] for p in args.paths if p.startswith(":")]
    if not targets:
        raise StarlingError("choose hosts: --host H[:PATH], --tag T[:PATH], --idc X[:PATH] or --all [:PATH]", code=ErrorCode.C001)
    if len(set(remote)) != 1:
        raise StarlingError("give exactly one remote path, as TARGET:PATH or :PATH", code=ErrorCode.C001)
    if len(local) != 1:
        raise StarlingError("give exactly one local path", code=ErrorCode.C001)
    rpath = remote[0]
    if not rpath.startswith("/"):
        raise StarlingError(f"the remote path {rpath!r} must be absolute", code=ErrorCode.C001)
    # As in `cp SRC DST`: what comes first is the source.
    first_local = next((i for i, a in enumerate(argv) if a == local[0]), len(argv))
    first_target = next((i for i, a in enumerate(argv) if a.split("=")[0] in TARGET_FLAGS or a.startswith(":")), len(argv))
    return targets, rpath, local[0], first_local < first_target


def cmd_cp(args: argparse.Namespace) -> int:
    from ._client import Client

    client = Client.from_profile(args.api)
    argv = getattr(args, "argv", None) or []
    targets, rpath, local, to_hosts = parse_targets(args, argv)
    if to_hosts:
        doc = push(client, Path(local), rpath, targets, args)
    else:
        doc = pull(client, rpath, local, targets, args)
    if args.json:
        import json
        import sys

        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    else:
        render(doc)
    return 0 if doc["failed"] == 0 else 1


# -- to hosts -----------------------------------------------------------------------------


def _chunks(path: Path, chunk_size: int) -> Iterator[tuple[int, str, int]]:
    """``(offset, sha256, length)`` of each chunk, reading one chunk at a time."""
    import hashlib
    offset = 0
    with path.open("rb") as fh:
        while data := fh.read(chunk_size):
            yield offset, hashlib.sha256(data).hexdigest(), len(data)
            offset += len(data)


def build_manifest(src: Path, chunk_size: int) -> tuple[list[dict[str, Any]], dict[str, tuple[Path, int, int]]]:
    """The manifest entries of ``src`` (a file or a directory tree) and where
    each chunk lives locally: ``{sha256: (file, offset, length)}``."""
    import hashlib
    entries: list[dict[str, Any]] = []
    where: dict[str, tuple[Path, int, int]] = {}
    try:
        s = src.stat()
    except OSError as exc:
        raise StarlingError(f"{src}: {exc.strerror}", code=ErrorCode.C001) from exc

    def add_file(path: Path, rel: str) -> None:
        before = path.stat()
        whole = hashlib.sha256()
        chunks = []
        with path.open("rb") as fh:
            offset = 0
            while data := fh.read(chunk_size):
                digest = hashlib.sha256(data).hexdigest()
                whole.update(data)
                chunks.append(digest)
                where.setdefault(digest, (path, offset, len(data)))
                offset += len(data)
        after = path.stat()
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or offset != after.st_size:
            raise StarlingError(f"{path} changed while it was read; copy it when it is quiet", code=ErrorCode.A021)
        entries.append({"path": rel, "size": offset, "sha256": whole.hexdigest(), "chunks": chunks, "mode": f"{st.S_IMODE(before.st_mode):04o}"})

    name = src.resolve().name or "root"
    if st.S_ISREG(s.st_mode):
        add_file(src, name)
    elif st.S_ISDIR(s.st_mode):
        entries.append({"path": name, "kind": "dir", "mode": f"{st.S_IMODE(s.st_mode):04o}"})
        for root, dirs, files in os.walk(src):
            dirs.sort()
            rel_root = Path(name) / Path(root).relative_to(src)
            for d in dirs:
                p = Path(root) / d
                if p.is_symlink():
                    err_console.print(f"[yellow]skipping symlink {p}[/yellow]")
                    continue
                entries.append({"path": (rel_root / d).as_posix(), "kind": "dir", "mode": f"{st.S_IMODE(p.stat().st_mode):04o}"})
            for f in sorted(files):
                p = Path(root) / f
                if p.is_symlink() or not p.is_file():
                    err_console.print(f"[yellow]skipping {p}: not a regular file[/yellow]")
                    continue
                add_file(p, (rel_root / f).as_posix())
        dirs_seen = {e["path"] for e in entries if e.get("kind") == "dir"}
        entries = [e for e in entries if e.get("kind") != "dir" or e["path"] in dirs_seen]
    else:
        raise StarlingError(f"{src} is neither a file nor a directory", code=ErrorCode.C001)
    return entries, where


def _progress(quiet: bool) -> Progress:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TextColumn("{task.fields[hosts]}"), TimeElapsedColumn(), console=real_console(err_console), transient=True, disable=quiet,
    )


def upload(client: Any, where: dict[str, tuple[Path, int, int]], quiet: bool) -> dict[str, int]:
    """Upload the chunks the center lacks (resumable: asks first). Re-reads each
    chunk and checks it still hashes to the manifest's value (A021 otherwise)."""
    import hashlib
    digests = list(where)
    missing: list[str] = []
    for i in range(0, len(digests), 10000):
        missing += client.request("POST", "/v1/files/missing", json_body={"hashes": digests[i : i + 10000]})["missing"]
    total = sum(where[d][2] for d in missing)
    with _progress(quiet) as progress:
        bar = progress.add_task("upload", total=total, hosts="")
        for digest in missing:
            path, offset, length = where[digest]
            with path.open("rb") as fh:
                fh.seek(offset)
                data = fh.read(length)
            if hashlib.sha256(data).hexdigest() != digest:
                raise StarlingError(f"{path} changed during the upload; nothing was sent to hosts", code=ErrorCode.A021)
            client.request_bytes("PUT", f"/v1/files/chunks/{digest}", data)
            progress.advance(bar, length)
    return {"chunks": len(digests), "uploaded_chunks": len(missing), "uploaded_bytes": total}


def _wait(client: Any, job_id: str, total_hosts: int, nbytes: int, quiet: bool, label: str) -> dict[str, Any]:
    """Follow the job through its server-sent progress events, then fetch its results."""
    with _progress(quiet) as progress:
        bar = progress.add_task(label, total=max(1, nbytes * total_hosts), hosts=f"0/{total_hosts} hosts")
        for view in client.progress(job_id):
            progress.update(bar, completed=view["done"] * nbytes, hosts=f"{view['done']}/{total_hosts} hosts")
    return dict(client.job(job_id))


def push(client: Any, src: Path, dest: str, targets: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    entries, where = build_manifest(src, args.chunk_size)
    nbytes = sum(int(e.get("size", 0)) for e in entries)
    t0 = time.monotonic()
    # A dry run sends no file bytes anywhere: the hosts only compare hashes.
    up = upload(client, where, args.quiet) if not args.dry_run else {"chunks": len(where), "uploaded_chunks": 0, "uploaded_bytes": 0}
    body: dict[str, Any] = {
        **targets, "dest": dest, "files": entries, "chunk_size": args.chunk_size, "dry_run": args.dry_run,
        "timeout": args.timeout, "offline": args.offline,
    }
    from ._diag import rollout

    if rollout(args):
        body["rollout"] = rollout(args)
    for key in ("mode", "owner", "group"):
        if getattr(args, key):
            body[key] = getattr(args, key)
    results: dict[str, dict[str, Any]] = {}
    jobs = []
    for round_ in range(1 + max(0, args.retries)):
        sub = client.request("POST", "/v1/files/push", json_body=body)
        jobs.append(sub["job_id"])
        job = _wait(client, sub["job_id"], sub["total"], 0 if args.dry_run else nbytes, args.quiet, "dry run" if args.dry_run else f"to hosts{' (retry)' if round_ else ''}")
        for r in job["results"]:
            results[r["host"]] = r
        again = [r["host"] for r in job["results"] if r["state"] != "succeeded" and r.get("code") in RETRYABLE]
        if not again or args.dry_run:
            break
        err_console.print(f"[yellow]{len(again)} host(s) interrupted ({', '.join(sorted({results[h]['code'] for h in again}))}); trying them again[/yellow]")
        body = {k: v for k, v in body.items() if k not in ("hosts", "tags", "idc", "all")} | {"hosts": again}
    hosts = [_host_row(r, dry_run=args.dry_run) for r in results.values()]
    return {
        "direction": "to_hosts", "source": str(src), "dest": dest, "bytes": nbytes, "files": sum(1 for e in entries if e.get("kind", "file") == "file"),
        "dry_run": args.dry_run, "jobs": jobs, "upload": up, "seconds": round(time.monotonic() - t0, 3),
        "hosts": sorted(hosts, key=_host_order), "failed": sum(1 for h in hosts if h["state"] != "succeeded"),
    }


def _host_order(h: dict[str, Any]) -> tuple[str, str]:
    return (h["hostname"], h["host_id"])


def _row(r: dict[str, Any]) -> dict[str, Any]:
    """A host's line in the --json document: the same names as every other command's."""
    return {"host_id": r["host"], "hostname": r.get("hostname") or "", "state": r["state"], "code": r.get("code", ""), "message": r.get("message", "")}


def _host_row(r: dict[str, Any], *, dry_run: bool) -> dict[str, Any]:
    row = _row(r)
    data = r.get("data")
    if isinstance(data, dict):
        for k in ("new", "differing", "same", "fetched_bytes", "held_chunks", "corrupt_chunks"):
            row[k] = data.get(k, 0)
        if dry_run:
            row["files"] = [{"path": f["target"], "status": f["status"]} for f in data.get("files", []) if f.get("kind", "file") == "file"]
    return row


# -- from hosts ---------------------------------------------------------------------------


def _download(client: Any, entry: dict[str, Any], target: Path, progress: Progress, bar: Any) -> None:
    """Fetch each chunk (one in memory at a time), verify it and the whole
    file, write to a temp file beside ``target`` and rename it into place."""
    import hashlib
    import tempfile
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".starling-part")
    whole = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as fh:
            for digest in entry["chunks"]:
                data = client.request_bytes("GET", f"/v1/files/chunks/{digest}")
                if hashlib.sha256(data).hexdigest() != digest:
                    raise StarlingError(f"chunk {digest} of {target} failed verification", code=ErrorCode.A015)
                whole.update(data)
                fh.write(data)
                progress.advance(bar, len(data))
            fh.flush()
            os.fsync(fh.fileno())
        if whole.hexdigest() != entry["sha256"]:
            raise StarlingError(f"{target}: whole-file SHA-256 does not match the host's", code=ErrorCode.A015)
        os.chmod(tmp, int(entry.get("mode") or "0644", 8))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def pull(client: Any, src: str, local: str, targets: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    dest = Path(local)
    t0 = time.monotonic()
    from ._diag import rollout

    body = {**targets, "path": src, "max_bytes": args.max_bytes, "timeout": args.timeout, "offline": args.offline}
    if rollout(args):
        body["rollout"] = rollout(args)
    sub = client.request("POST", "/v1/files/collect", json_body=body)
    job = _wait(client, sub["job_id"], sub["total"], 0, args.quiet, "from hosts")
    rows = []
    done = [r for r in job["results"] if r["state"] == "succeeded" and isinstance(r.get("data"), dict)]
    # One host into a path that is not a directory: that path is the file;
    # otherwise DEST/<host>/<name>, one file per host.
    single = len(job["results"]) == 1 and not local.endswith("/") and not dest.is_dir()
    total = sum(int(r["data"]["file"]["size"]) for r in done)
    with _progress(args.quiet) as progress:
        bar = progress.add_task("download", total=max(1, total), hosts=f"{len(done)} hosts")
        for r in job["results"]:
            host = r.get("hostname") or r["host"]
            row = _row(r)
            if r in done:
                entry = r["data"]["file"]
                target = dest if single else dest / host / entry["path"]
                try:
                    _download(client, entry, target, progress, bar)
                    row |= {"path": str(target), "bytes": entry["size"], "sha256": entry["sha256"]}
                except StarlingError as exc:
                    row |= {"state": "failed", "code": exc.code.value, "message": exc.message}
            rows.append(row)
    return {
        "direction": "from_hosts", "source": src, "dest": str(dest), "job_id": sub["job_id"], "seconds": round(time.monotonic() - t0, 3),
        "bytes": total, "hosts": sorted(rows, key=_host_order), "failed": sum(1 for h in rows if h["state"] != "succeeded"),
    }


# -- output -------------------------------------------------------------------------------


def render(doc: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(show_edge=False, header_style="bold")
    to_hosts = doc["direction"] == "to_hosts"
    cols = ["host", "state", "code"] + (["new", "differing", "same", "fetched"] if to_hosts else ["bytes", "path"]) + ["message"]
    for c in cols:
        table.add_column(c)
    for h in doc["hosts"]:
        style = "green" if h["state"] == "succeeded" else "red"
        cells = [h["hostname"] or h["host_id"], f"[{style}]{h['state']}[/{style}]", h["code"]]
        if to_hosts:
            cells += [str(h.get("new", "")), str(h.get("differing", "")), str(h.get("same", "")), str(h.get("fetched_bytes", ""))]
        else:
            cells += [str(h.get("bytes", "")), h.get("path", "")]
        cells.append(h["message"][:80])
        table.add_row(*cells)
    console.print(table)
    if to_hosts and doc["dry_run"]:
        for h in doc["hosts"]:
            for f in h.get("files", []):
                console.print(f"  {h['hostname'] or h['host_id']}: {f['status']:9} {f['path']}")
    ok = len(doc["hosts"]) - doc["failed"]
    what = f"{doc['bytes']} bytes" + (f", uploaded {doc['upload']['uploaded_bytes']}" if to_hosts else "")
    console.print(f"[bold]{ok}/{len(doc['hosts'])} hosts succeeded[/bold] ({what}) in {doc['seconds']:.1f}s")
