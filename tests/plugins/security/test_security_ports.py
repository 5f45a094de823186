"""sec.ports: a real listener on 127.0.0.1 is seen with its pid; allow-list and loopback rules."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from agent_core.testing import run_action


@pytest.fixture
def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield s.getsockname()[1]
    s.close()


@pytest.fixture
def udp_socket():
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::1", 0))
    yield s.getsockname()[1]
    s.close()


def _ss_tcp_ports() -> set[int]:
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
    return {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines() if line.strip()}


async def test_ports_sees_our_listener(listener, udp_socket):
    before = _ss_tcp_ports()
    out = await run_action("sec.ports")
    after = _ss_tcp_ports()
    assert out.ok, out.message
    v = out.value
    mine = [x for x in v["listeners"] if x["port"] == listener and x["proto"] == "tcp"]
    assert mine == [{"proto": "tcp", "address": "127.0.0.1", "port": listener, "loopback": True,
                     "pid": os.getpid(), "process": mine[0]["process"], "allowed": False}]
    assert any(x["port"] == listener for x in v["unexpected"]) and v["ok"] is False
    udp = [x for x in v["listeners"] if x["port"] == udp_socket and x["proto"] == "udp"]
    assert udp and udp[0]["address"] == "::1" and udp[0]["pid"] == os.getpid()
    # Other processes on a shared machine open and close listeners meanwhile: what stayed
    # up the whole time must be seen, and nothing that was never up.
    seen = {x["port"] for x in v["listeners"] if x["proto"] == "tcp"}
    assert (before & after) | {listener} <= seen <= before | after | {listener}


async def test_ports_allow_list(listener, udp_socket):
    out = await run_action("sec.ports", {"allow": [f"tcp/127.0.0.1:{listener}", f"udp/[::1]:{udp_socket}"]})
    by = {(x["proto"], x["port"]): x for x in out.value["listeners"]}
    assert by[("tcp", listener)]["allowed"] and by[("udp", udp_socket)]["allowed"]
    out = await run_action("sec.ports", {"allow": [f"udp/{listener}"]})
    assert any(x["port"] == listener for x in out.value["unexpected"])  # wrong protocol does not allow it
    out = await run_action("sec.ports", {"allow": [f"10.0.0.1:{listener}"]})
    assert any(x["port"] == listener for x in out.value["unexpected"])  # wrong address neither
    out = await run_action("sec.ports", {"ignore_loopback": True})
    assert not any(x["loopback"] for x in out.value["unexpected"])


async def test_ports_bad_allow_entries():
    for entry in ("ssh", "tcp/99999", "sctp/22", "1.2.3:22", "0"):
        assert (await run_action("sec.ports", {"allow": [entry]})).code == "A002", entry
