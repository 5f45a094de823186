"""Fixtures for the network plugin tests: throwaway network namespaces.

Everything that needs interfaces, addresses, routes, neighbours or firewall
rules is built inside a namespace created for the test and deleted after it,
so no test touches the host's own network configuration.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest


def run(*argv: str) -> str:
    """Run a command, fail the test with its stderr when it fails."""
    res = subprocess.run(argv, capture_output=True, text=True)
    assert res.returncode == 0, f"{' '.join(argv)}: {res.stderr}"
    return res.stdout


@pytest.fixture
def sh():
    """Run a command (argv), failing the test with its stderr when it fails."""
    return run


@pytest.fixture
def netns() -> Iterator[str]:
    """A fresh network namespace with ``lo`` up; removed afterwards."""
    if shutil.which("ip") is None:
        pytest.skip("ip (iproute2) not installed")
    name = f"sttest-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture
def veth_ns(netns: str) -> str:
    """``netns`` with a veth pair ``va``/``vb`` up, 10.99.0.1/24 on ``va`` and
    10.99.0.2/24 on ``vb``, and a route 10.98.0.0/16 via 10.99.0.254."""
    run("ip", "-n", netns, "link", "add", "va", "type", "veth", "peer", "name", "vb")
    for dev, addr in (("va", "10.99.0.1/24"), ("vb", "10.99.0.2/24")):
        run("ip", "-n", netns, "addr", "add", addr, "broadcast", "+", "dev", dev)
        run("ip", "-n", netns, "link", "set", dev, "up")
    run("ip", "-n", netns, "route", "add", "10.98.0.0/16", "via", "10.99.0.254", "dev", "va")
    return netns
