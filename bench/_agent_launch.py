"""Run the real agent daemon with candidate footprint changes applied in-process.

    python bench/_agent_launch.py [--patch NAME ...] -- -c agent.toml

Used by ``bench/footprint.py`` to measure a change to a module the bench does
not own *before* its owner applies it. Each patch below is the proposed change
itself, written as a replacement function; with no ``--patch`` the daemon runs
unchanged. Not used by the product.

Signals installed for the bench (never by the product):

* ``SIGUSR2``: ``malloc_trim(0)`` — what a trim after start-up would return to the OS.
* ``SIGUSR1``: when ``PYTHONTRACEMALLOC`` is set, write the top Python
  allocations by file to ``$STARLING_BENCH_TRACE``.
"""

from __future__ import annotations

import argparse
import ctypes
import signal
import sys
from pathlib import Path
from typing import Any

# bench/ holds scripts named like packages (bench/transports.py): keep them off sys.path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

def patch_carriers() -> None:
    """transports._base.get_carrier: load only the entry point named by the scheme.

    Today the first ``get_carrier("tcp://...")`` loads every carrier (QUIC pulls
    aioquic, pyOpenSSL, service_identity, certifi; HTTP pulls httpx, h11).
    """
    from importlib.metadata import entry_points

    import agent_core._agent as agent_mod
    import transports
    import transports._base as base

    def get_carrier(url_or_scheme: str) -> Any:
        scheme = url_or_scheme.split("://", 1)[0] if "://" in url_or_scheme else url_or_scheme
        if scheme not in base._carriers:
            named = [ep for ep in entry_points(group="starling.transports") if ep.name == scheme]
            if not named:
                base._load_carriers()  # a carrier may serve schemes it is not named after
            for ep in named:
                cls = ep.load()
                carrier = cls()
                for s in cls.schemes or (ep.name,):
                    base._carriers.setdefault(s, carrier)
        try:
            return base._carriers[scheme]
        except KeyError:
            raise base.ConnectFailed(f"no carrier for scheme {scheme!r}") from None

    base.get_carrier = get_carrier
    transports.get_carrier = get_carrier  # type: ignore[attr-defined]
    agent_mod.get_carrier = get_carrier  # type: ignore[attr-defined]


def libcrypto_ed25519() -> None:
    """Ed25519 (the agent's key, hello proofs, task signatures) through the
    libcrypto that ``ssl`` already loaded, instead of ``cryptography``: the
    unchanged agent code runs over the stand-ins of bench/_ed25519_libcrypto.py.

    Must run before anything imports cryptography, and needs ``carriers`` (the
    QUIC carrier imports far more of cryptography than the stand-in offers).
    """
    import importlib.util

    # By file path: bench/ must not be on sys.path (bench/transports.py would shadow transports).
    spec = importlib.util.spec_from_file_location("_ed25519_libcrypto", Path(__file__).with_name("_ed25519_libcrypto.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_ed25519_libcrypto"] = module
    spec.loader.exec_module(module)
    module.install_cryptography_shim()


def patch_libc() -> None:
    """agent_core._libc.set_child_subreaper through ctypes (already loaded by trio)
    instead of cffi's ABI mode, whose ``cdef`` imports pycparser at run time."""
    import agent_core._daemon as daemon

    def set_child_subreaper() -> bool:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(36, 1, 0, 0, 0) == 0)

    daemon.set_child_subreaper = set_child_subreaper


def _install_signals() -> None:
    def trim(signum: int, frame: Any) -> None:
        ctypes.CDLL("libc.so.6").malloc_trim(0)

    def trace(signum: int, frame: Any) -> None:
        import os
        import tracemalloc

        if not tracemalloc.is_tracing():
            return
        snap = tracemalloc.take_snapshot()
        total = sum(s.size for s in snap.statistics("filename"))
        lines = [f"total {total}"]
        for stat in snap.statistics("filename")[:40]:
            lines.append(f"{stat.size} {stat.count} {stat.traceback[0].filename}")
        with open(os.environ["STARLING_BENCH_TRACE"], "w") as fh:
            fh.write("\n".join(lines) + "\n")

    signal.signal(signal.SIGUSR2, trim)
    signal.signal(signal.SIGUSR1, trace)


PATCHES = {"libcrypto-ed25519": libcrypto_ed25519, "carriers": patch_carriers, "ctypes-libc": patch_libc}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patch", action="append", default=[], choices=sorted(PATCHES))
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if "libcrypto-ed25519" in args.patch and "carriers" not in args.patch:
        parser.error("libcrypto-ed25519 needs --patch carriers")
    _install_signals()
    # Order matters: the stand-ins must be in place before anything imports cryptography.
    for name in sorted(args.patch, key=lambda n: n != "libcrypto-ed25519"):
        PATCHES[name]()
    from agent_core._daemon import main as daemon_main

    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    return daemon_main(rest)


if __name__ == "__main__":
    sys.exit(main())
