"""Fixtures shared by the plugin tests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.plugins._systemd_host import (
    SystemdContainer,
    SystemdHost,
    host_runs_systemd,
    systemd_root,
    why_no_container,
)


@pytest.fixture(scope="session")
def systemd_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SystemdHost]:
    """Where the systemd plugins' real path runs: this machine when systemd is its init,
    else a systemd booted once per session in a container (tests/plugins/_systemd_host.py).
    Skips, with the reason, when neither can be had."""
    if host_runs_systemd():
        yield SystemdHost()
        return
    why = why_no_container()
    if why:
        pytest.skip(
            f"systemd is not this host's init and no systemd container can be booted here ({why}): "
            "the real path is not exercised"
        )
    try:
        root = systemd_root()
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"debootstrap could not make the systemd root: {exc.stderr.decode()[-500:]}")
    box = SystemdContainer(tmp_path_factory.mktemp("systemd-container"))
    try:
        box.boot(root)
        yield box
    finally:
        box.stop()
