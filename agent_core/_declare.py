"""The agent's catalogue: every action it can run, declared as data for the center.

Building it means importing every plugin module, which an idle agent never
does (plugins load lazily). So the catalogue is built once in a child process
(``python -m agent_core._declare``) and cached on disk under a fingerprint of
what is installed (the ``starling.plugins`` entry points, their distributions'
versions and the active third-party package paths). The agent's memory never
sees the plugins; a restart with the same plugins reads the cache.

The agent runs that child at every start (``--index``): it reads the entry points
(plugins, residents, carriers) with ``importlib.metadata``, builds the catalogue only
when the cache lacks it, and prints the entry points, which the agent installs
(:mod:`agent_core._index`), so the agent's own process never imports
``importlib.metadata`` and its ~30 modules.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import msgspec

from transports import Catalogue, catalogue_digest

from ._index import GROUPS, EntryRef, entries, install, scan
from ._plugins import ENTRY_POINT_GROUP, PluginHost

log = logging.getLogger("starling.agent")

__all__ = ["build_catalogue", "catalogue_for", "fingerprint"]


def build_catalogue(host: PluginHost) -> Catalogue:
    """Import every plugin and declare its actions (plugins that fail to import are left out)."""
    decls = []
    for plugin in host.load_all():
        for act in plugin.actions.values():
            decls.append(act.declaration(plugin.name))
    return Catalogue(actions=sorted(decls, key=lambda d: d.name))


class Declared(msgspec.Struct):
    """What the ``--index`` child prints: the catalogue's cache key and the entry points."""

    fingerprint: str
    #: The catalogue's digest, so that the agent never decodes the document itself.
    digest: str
    index: dict[str, list[tuple[str, str, str, str]]]


def fingerprint(extra_paths: Sequence[str] = (), group: str = ENTRY_POINT_GROUP, refs: Sequence[EntryRef] | None = None) -> str:
    """Changes whenever the installed plugins could have changed."""
    h = hashlib.sha256()
    for ep in sorted(entries(group) if refs is None else refs, key=lambda e: (e.name, e.value)):
        h.update(f"{ep.name}={ep.value}@{ep.dist}=={ep.dist_version}\n".encode())
    for path in extra_paths:
        h.update(f"path:{path}\n".encode())
    return h.hexdigest()[:32]


def catalogue_for(cache_dir: Path, extra_paths: Sequence[str] = ()) -> tuple[str, msgspec.Raw]:
    """``(digest, catalogue as JSON)`` for what is installed now, through the ``--index``
    child (which builds the catalogue into the cache when it is not there). The agent
    sends the document as it is, never decoded (hundreds of schemas would leave its heap
    fragmented). Installs the entry points the child read (:mod:`agent_core._index`).

    Blocking; call it from a worker thread.
    """
    env = dict(os.environ)
    # The child must import this same agent_core and its dependencies: a packaged agent's
    # launcher puts /opt/starling/agent/lib on sys.path itself, which a child interpreter
    # would not inherit.
    here = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([*extra_paths, here, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    proc = subprocess.run(
        [sys.executable, "-m", "agent_core._declare", "--index", str(cache_dir), *extra_paths],
        capture_output=True, env=env, timeout=120, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"building the plugin catalogue failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    declared = msgspec.json.decode(proc.stdout, type=Declared)
    install({g: [EntryRef(name, value, g, dist, ver) for name, value, dist, ver in refs] for g, refs in declared.index.items()})
    from transports import use_entry_points

    use_entry_points(entries)
    return declared.digest, msgspec.Raw((cache_dir / f"catalogue-{declared.fingerprint}.json").read_bytes())


def _index_main(cache_dir: Path, extra_paths: Sequence[str]) -> int:
    """The ``--index`` child: entry points out, the catalogue into the cache if missing."""
    index = scan(GROUPS)
    fp = fingerprint(extra_paths, refs=index[ENTRY_POINT_GROUP])
    cache = cache_dir / f"catalogue-{fp}.json"
    try:
        cat = msgspec.json.decode(cache.read_bytes(), type=Catalogue)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        cat = build_catalogue(PluginHost())
        _write_cache(cache, msgspec.json.encode(cat))
    out = Declared(fp, catalogue_digest(cat), {g: [(r.name, r.value, r.dist, r.dist_version) for r in refs] for g, refs in index.items()})
    sys.stdout.buffer.write(msgspec.json.encode(out))
    return 0


def _write_cache(cache: Path, doc: bytes) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_bytes(doc)
    tmp.replace(cache)  # several local agents may race here: each rename is whole


def _main(argv: Sequence[str]) -> int:
    """``python -m agent_core._declare`` prints the catalogue as JSON;
    ``--cache DIR`` writes it to the cache there instead (``starling up`` does
    this once for all its local agents)."""
    logging.basicConfig(level=logging.ERROR)
    if len(argv) >= 2 and argv[0] == "--index":
        return _index_main(Path(argv[1]), argv[2:])
    doc = msgspec.json.encode(build_catalogue(PluginHost()))
    if len(argv) == 2 and argv[0] == "--cache":
        _write_cache(Path(argv[1]) / f"catalogue-{fingerprint()}.json", doc)
    else:
        sys.stdout.buffer.write(doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
