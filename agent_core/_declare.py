"""The agent's catalogue: every action it can run, declared as data for the center.

Building it means importing every plugin module, which an idle agent never
does (plugins load lazily). So the catalogue is built once in a child process
(``python -m agent_core._declare``) and cached on disk under a fingerprint of
what is installed (the ``starling.plugins`` entry points, their distributions'
versions and the active third-party package paths). The agent's memory never
sees the plugins; a restart with the same plugins reads the cache.

The agent runs a child at every start (:data:`INDEX_CHILD`): it reads the entry points
(plugins, residents, carriers) with ``importlib.metadata``, builds the catalogue only
when the cache lacks it, and prints the entry points, which the agent installs
(:mod:`agent_core._index`), so the agent's own process never imports
``importlib.metadata`` and its ~30 modules.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import msgspec
import trio

from transports import Catalogue, catalogue_digest

from ._index import EntryRef, entries, fingerprint_of, install
from ._plugins import ENTRY_POINT_GROUP, PluginHost

log = logging.getLogger("starling.agent")

__all__ = ["build_catalogue", "catalogue_for", "fingerprint", "run_catalogue_child"]


def build_catalogue(host: PluginHost) -> Catalogue:
    """Import every plugin and declare its actions (plugins that fail to import are left out)."""
    decls = []
    for plugin in host.load_all():
        for act in plugin.actions.values():
            decls.append(act.declaration(plugin.name))
    return Catalogue(actions=sorted(decls, key=lambda d: d.name))


class Declared(msgspec.Struct):
    """What the index child prints: the catalogue's cache key and digest, and the entry points."""

    fingerprint: str
    #: The catalogue's digest, so that the agent never decodes the document itself.
    digest: str
    index: dict[str, list[tuple[str, str, str, str]]]


#: The child run at every start: it imports the entry-point reader only (not
#: agent_core, whose package pulls trio), and agent_core._declare only when the cache
#: lacks this fingerprint's catalogue (a new plugin set: import every plugin, declare).
INDEX_CHILD = """
import json, sys
from pathlib import Path
from transports.entrypoints import GROUPS, fingerprint_of, scan
cache_dir, extra = Path(sys.argv[1]), sys.argv[2:]
index = scan(GROUPS)
fp = fingerprint_of(index["starling.plugins"], extra)
try:
    digest = (cache_dir / f"catalogue-{fp}.sha256").read_text().strip()
    if not digest or not (cache_dir / f"catalogue-{fp}.json").is_file():
        raise OSError
except OSError:
    from agent_core._declare import cached_digest
    digest = cached_digest(cache_dir, fp)
out = {"fingerprint": fp, "digest": digest, "index": {g: [[r.name, r.value, r.dist, r.dist_version] for r in refs] for g, refs in index.items()}}
json.dump(out, sys.stdout)
"""


def fingerprint(extra_paths: Sequence[str] = (), group: str = ENTRY_POINT_GROUP) -> str:
    """Changes whenever the installed plugins could have changed."""
    return fingerprint_of(entries(group), extra_paths)


def _child(cache_dir: Path, extra_paths: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The index child's command line and environment."""
    env = dict(os.environ)
    # The child must import this same agent_core and its dependencies: a packaged agent's
    # launcher puts /opt/starling/agent/lib on sys.path itself, which a child interpreter
    # would not inherit.
    here = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([*extra_paths, here, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    return [sys.executable, "-c", INDEX_CHILD, str(cache_dir), *extra_paths], env


def _installed(cache_dir: Path, returncode: int, stdout: bytes, stderr: bytes) -> tuple[str, msgspec.Raw]:
    """Install the entry points the index child printed; its catalogue's digest and document."""
    if returncode != 0:
        raise RuntimeError(f"building the plugin catalogue failed: {stderr.decode(errors='replace')[-2000:]}")
    declared = msgspec.json.decode(stdout, type=Declared)
    install({g: [EntryRef(name, value, g, dist, ver) for name, value, dist, ver in refs] for g, refs in declared.index.items()})
    return declared.digest, msgspec.Raw((cache_dir / f"catalogue-{declared.fingerprint}.json").read_bytes())


def catalogue_for(cache_dir: Path, extra_paths: Sequence[str] = ()) -> tuple[str, msgspec.Raw]:
    """``(digest, catalogue as JSON)`` for what is installed now, through the index child
    (:data:`INDEX_CHILD`, which builds the catalogue into the cache when it is not there).
    The agent sends the document as it is, never decoded (hundreds of schemas would leave
    its heap fragmented). Installs the entry points the child read (:mod:`agent_core._index`).

    Blocking; the agent itself uses :func:`run_catalogue_child`.
    """
    argv, env = _child(cache_dir, extra_paths)
    proc = subprocess.run(argv, capture_output=True, env=env, timeout=120, check=False)
    return _installed(cache_dir, proc.returncode, proc.stdout, proc.stderr)


async def run_catalogue_child(cache_dir: Path, extra_paths: Sequence[str] = ()) -> tuple[str, msgspec.Raw]:
    """:func:`catalogue_for` without blocking trio. The child's answer is decoded and its
    index installed here, in the agent's thread: done in a worker thread (as
    ``trio.to_thread.run_sync(catalogue_for, ...)`` did), those long-lived objects were
    allocated in that thread's own malloc arena, which then stayed in the idle agent
    with them (~0.3 MB). Raises RuntimeError when the child fails or takes over two
    minutes."""
    argv, env = _child(cache_dir, extra_paths)
    try:
        with trio.fail_after(120):
            proc = await trio.run_process(argv, capture_stdout=True, capture_stderr=True, env=env, check=False)
    except trio.TooSlowError:
        raise RuntimeError("building the plugin catalogue took over 120 s") from None
    return _installed(cache_dir, proc.returncode, proc.stdout, proc.stderr)


def cached_digest(cache_dir: Path, fp: str) -> str:
    """The digest of the cached catalogue for fingerprint ``fp``, declaring it first when
    the cache lacks it (imports every plugin: run it in a child)."""
    try:
        cat = msgspec.json.decode((cache_dir / f"catalogue-{fp}.json").read_bytes(), type=Catalogue)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        cat = build_catalogue(PluginHost())
    return _store(cache_dir, fp, cat)


def _store(cache_dir: Path, fp: str, cat: Catalogue) -> str:
    digest = catalogue_digest(cat)
    _write_cache(cache_dir / f"catalogue-{fp}.json", msgspec.json.encode(cat))
    _write_cache(cache_dir / f"catalogue-{fp}.sha256", digest.encode())
    return digest


def _write_cache(cache: Path, doc: bytes) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_bytes(doc)
    tmp.replace(cache)  # several local agents may race here: each rename is whole


def _main(argv: Sequence[str]) -> int:
    """``python -m agent_core._declare`` prints the catalogue as JSON;
    ``--cache DIR`` writes it (and its digest) to the cache there instead
    (``starling up`` does this once for all its local agents)."""
    logging.basicConfig(level=logging.ERROR)
    cat = build_catalogue(PluginHost())
    if len(argv) == 2 and argv[0] == "--cache":
        _store(Path(argv[1]), fingerprint(), cat)
    else:
        sys.stdout.buffer.write(msgspec.json.encode(cat))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
