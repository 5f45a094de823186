"""File-integrity baseline and check: record sha256 of a set of paths, then report changes.

``sec.integrity.baseline`` hashes every regular file under the given paths
(files or directories, bounded, symlinks recorded as links) together with
mode, owner and size, and stores that baseline under a name in the agent's
private data directory. ``sec.integrity.check`` hashes the same paths again
and reports what changed (content, mode, owner, link target), what was added
and what was removed since the baseline — a small tripwire/AIDE for
``/etc``, ``/usr/local/bin`` or an application's release.
``sec.integrity.list`` shows the stored baselines. Only the baseline file in
the agent's own directory is ever written.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat as st
import time
from pathlib import Path
from typing import Annotated, Any

import msgspec

from agent_core import (
    ActionContext,
    CancelToken,
    InvalidParams,
    NoParams,
    NotFound,
    Plugin,
    Risk,
    abs_path,
    action,
    atomic_write,
)
from plugins._fs import WalkStats, hash_file, kind_of, mode_str, walk

PLUGIN = Plugin("sec.integrity", domain="security")

Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class BaselineParams(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    paths: Annotated[list[str], msgspec.Meta(min_length=1, max_length=1000)]
    exclude: list[str] = []
    max_files: Annotated[int, msgspec.Meta(ge=1, le=5_000_000)] = 200_000


class CheckParams(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    max_report: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1000


class BaselineResult(msgspec.Struct):
    name: str
    paths: list[str]
    files: int
    created: float
    truncated: bool


class Change(msgspec.Struct):
    path: str
    fields: list[str]
    old: dict[str, Any]
    new: dict[str, Any]


class CheckResult(msgspec.Struct):
    name: str
    baseline_created: float
    clean: bool
    changed: list[Change]
    added: list[str]
    removed: list[str]
    counts: dict[str, int]


class BaselineInfo(msgspec.Struct):
    name: str
    created: float
    files: int
    paths: list[str]


def _record(path: str, s: os.stat_result, cancel: CancelToken) -> dict[str, Any]:
    rec: dict[str, Any] = {"type": kind_of(s.st_mode), "mode": mode_str(s.st_mode), "uid": s.st_uid, "gid": s.st_gid}
    if st.S_ISREG(s.st_mode):
        rec["size"] = s.st_size
        try:
            rec["sha256"] = hash_file(path, "sha256", cancel)
        except OSError as exc:
            rec["error"] = exc.strerror or str(exc)
    elif st.S_ISLNK(s.st_mode):
        rec["target"] = os.readlink(path)
    return rec


def snapshot(paths: list[str], exclude: list[str], max_files: int, cancel: CancelToken) -> tuple[dict[str, dict[str, Any]], bool]:
    """``{path: record}`` for everything under ``paths`` (directories recorded too)."""
    out: dict[str, dict[str, Any]] = {}
    stats = WalkStats()

    def skip(path: str) -> bool:
        name = os.path.basename(path)
        return any(fnmatch.fnmatch(name, pat) or fnmatch.fnmatch(path, pat) for pat in exclude)

    for top in paths:
        try:
            s = os.lstat(top)
        except FileNotFoundError:
            continue  # recorded as absent: appears as "added" if it shows up later
        if not skip(top):
            out[top] = _record(top, s, cancel)
        if st.S_ISDIR(s.st_mode):
            for path, es, _ in walk(top, stats, max_depth=256, max_entries=max_files, xdev=False, cancel=cancel):
                if not skip(path):
                    out[path] = _record(path, es, cancel)
    return out, stats.truncated


def _store(ctx: ActionContext) -> Path:
    d = ctx.data_dir("sec.integrity")
    d.chmod(0o700)
    return d


@action("sec.integrity.baseline", risk=Risk.CHANGE, timeout=1800)
async def baseline(ctx: ActionContext, p: BaselineParams) -> BaselineResult:
    """Hash everything under ``paths`` and store it as baseline ``name`` (replacing an older one)."""
    paths = sorted({abs_path(x, "paths") for x in p.paths})
    entries, truncated = await ctx.to_thread(snapshot, paths, p.exclude, p.max_files, cancellable=True)
    if truncated:
        raise InvalidParams(f"more than max_files ({p.max_files}) entries under {paths}; narrow the paths or raise it")
    created = time.time()
    doc = {"name": p.name, "created": created, "paths": paths, "exclude": p.exclude, "max_files": p.max_files, "entries": entries}
    atomic_write(str(_store(ctx) / f"{p.name}.json"), json.dumps(doc).encode(), mode=0o600)
    return BaselineResult(name=p.name, paths=paths, files=len(entries), created=created, truncated=truncated)


def _load(ctx: ActionContext, name: str) -> dict[str, Any]:
    try:
        return json.loads((_store(ctx) / f"{name}.json").read_text())
    except FileNotFoundError:
        raise NotFound(f"no integrity baseline named {name!r}; make one with sec.integrity.baseline") from None


def compare(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]], limit: int) -> tuple[list[Change], list[str], list[str], dict[str, int]]:
    changed: list[Change] = []
    for path in sorted(old.keys() & new.keys()):
        a, b = old[path], new[path]
        fields = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        if fields:
            changed.append(Change(path=path, fields=fields, old={k: a.get(k) for k in fields}, new={k: b.get(k) for k in fields}))
    added = sorted(new.keys() - old.keys())
    removed = sorted(old.keys() - new.keys())
    counts = {"changed": len(changed), "added": len(added), "removed": len(removed), "checked": len(new)}
    return changed[:limit], added[:limit], removed[:limit], counts


@action("sec.integrity.check", risk=Risk.READ, timeout=1800)
async def check(ctx: ActionContext, p: CheckParams) -> CheckResult:
    """Compare the paths of baseline ``name`` with now: changed, added and removed entries."""
    doc = _load(ctx, p.name)
    current, _ = await ctx.to_thread(snapshot, doc["paths"], doc.get("exclude", []), doc.get("max_files", 200_000) * 2, cancellable=True)
    changed, added, removed, counts = compare(doc["entries"], current, p.max_report)
    return CheckResult(
        name=p.name,
        baseline_created=doc["created"],
        clean=not (counts["changed"] or counts["added"] or counts["removed"]),
        changed=changed,
        added=added,
        removed=removed,
        counts=counts,
    )


def _list(store: Path) -> list[BaselineInfo]:
    out = []
    for f in sorted(store.glob("*.json")):
        try:
            doc = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        out.append(BaselineInfo(name=doc["name"], created=doc["created"], files=len(doc["entries"]), paths=doc["paths"]))
    return out


@action("sec.integrity.list", risk=Risk.READ, timeout=30)
async def list_baselines(ctx: ActionContext, p: NoParams) -> list[BaselineInfo]:
    """The stored baselines with their creation time, size and paths."""
    return _list(_store(ctx))
