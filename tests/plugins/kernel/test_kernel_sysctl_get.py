"""kernel.sysctl.get against the sysctl program and /proc/sys."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from agent_core.testing import run_action
from plugins.kernel._common import key_path, path_key


def _sysctl(key: str) -> str:
    if shutil.which("sysctl") is None:
        pytest.skip("sysctl (procps) not installed")
    return subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, check=True).stdout.strip()


def _files_under(directory: str, start: str) -> list[str]:
    out = []
    for root, _, files in os.walk(directory):
        for name in files:
            key = path_key(os.path.join(root, name)).replace("/", ".")
            if key.startswith(start):
                out.append(key)
    return sorted(out)


async def test_keys_match_sysctl():
    out = await run_action("kernel.sysctl.get", {"keys": ["kernel.ostype", "vm.swappiness", "net.ipv4.ip_local_port_range"]})
    assert out.ok, out.message
    for key in ("kernel.ostype", "vm.swappiness", "net.ipv4.ip_local_port_range"):
        assert out.value["values"][key] == " ".join(_sysctl(key).split())
    assert out.value["errors"] == {}


async def test_prefix_lists_the_subtree():
    out = await run_action("kernel.sysctl.get", {"prefix": "net.ipv4.tcp_keepalive"})
    assert out.ok
    assert sorted(out.value["values"]) == _files_under("/proc/sys/net/ipv4", "net.ipv4.tcp_keepalive")
    assert len(out.value["values"]) == 3
    capped = await run_action("kernel.sysctl.get", {"prefix": "vm.", "limit": 2})
    assert len(capped.value["values"]) + len(capped.value["errors"]) == 2 and capped.value["truncated"]


async def test_mixed_missing_and_write_only_keys_go_to_errors():
    out = await run_action("kernel.sysctl.get", {"keys": ["kernel.ostype", "kernel.no_such_key_zz", "vm.compact_memory"]})
    assert out.ok
    assert out.value["values"] == {"kernel.ostype": "Linux"}
    assert set(out.value["errors"]) >= {"kernel.no_such_key_zz"}


def test_key_path_forms():
    assert key_path("net.ipv4.ip_forward") == "/proc/sys/net/ipv4/ip_forward"
    assert key_path("net/ipv4/conf/eth0.100/rp_filter") == "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"
    assert path_key("/proc/sys/net/ipv4/conf/eth0.100/rp_filter") == "net/ipv4/conf/eth0.100/rp_filter"


@pytest.mark.parametrize(
    ("params", "code"),
    [({"keys": ["kernel.no_such_key_zz"]}, "A017"), ({"keys": ["../../etc/passwd"]}, "A002"), ({"keys": ["net..ipv4"]}, "A002"),
     ({"keys": ["kernel"]}, "A002"), ({}, "A002"), ({"prefix": "../x"}, "A002"), ({"key": "vm.swappiness"}, "A002")],
)  # fmt: skip
async def test_get_errors(params, code):
    assert (await run_action("kernel.sysctl.get", params)).code == code
