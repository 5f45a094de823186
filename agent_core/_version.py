"""Which version this agent is, as the center records it (``hosts.version``).

A packaged agent is the package's version (``/opt/starling/agent/VERSION``, written by
contrib/packaging/build.sh, e.g. ``0.1.1-1.py311``): that is what an upgrade installs
and what an operator compares. Otherwise it is the Python distribution's version.

After it connects, the agent writes ``running-version`` ("VERSION PID") into its state
dir: the self-upgrade helper (plugins/agent/upgrade.py) reads it to know the new
version came up, and which process to restart on a host without systemd.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The bundle root of a packaged agent: lib/agent_core/_version.py -> ../../VERSION.
_PACKAGE_VERSION_FILE = Path(__file__).resolve().parents[2] / "VERSION"
RUNNING_VERSION_FILE = "running-version"


def agent_version() -> str:
    try:
        text = _PACKAGE_VERSION_FILE.read_text().strip()
        if text:
            return text
    except OSError:
        pass
    # An installed distribution: its .dist-info directory names the version (read so,
    # the agent does not import importlib.metadata and its ~30 modules at start-up).
    for entry in sys.path:
        for info in Path(entry or ".").glob("starling_fleet-*.dist-info"):
            return info.name[len("starling_fleet-") : -len(".dist-info")]
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("starling-fleet")
    except PackageNotFoundError:
        return "0.0.0"


def write_running_version(state_dir: Path, version: str) -> None:
    """Record "VERSION PID" once connected (atomically; a helper may be reading)."""
    tmp = state_dir / f"{RUNNING_VERSION_FILE}.tmp"
    tmp.write_text(f"{version} {os.getpid()}\n")
    tmp.replace(state_dir / RUNNING_VERSION_FILE)
