"""kernel.sysctl.set: real writes happen inside a private network namespace; the host is only dry-run.

``net.ipv4.*`` keys are per network namespace, so a child started with
``unshare --net`` can set them for real (and fail, and roll back) without
touching this host's values.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent_core.testing import run_action

ROOT = Path(__file__).resolve().parents[3]

IN_NETNS = """
import json, sys, trio
import plugins.kernel.sysctl_set as mod
from agent_core.testing import run_action
mod.SYSCTL_D = sys.argv[2]
def now(key):
    with open("/proc/sys/" + key.replace(".", "/")) as fh:
        return fh.read().strip()
# A new namespace's IPv4 settings start as the host's (devconf_inherit_init_net = 0).
forward_before = now("net.ipv4.ip_forward")
out = trio.run(run_action, "kernel.sysctl.set", json.loads(sys.argv[1]))
print(json.dumps({"state": out.state, "code": out.code, "message": out.message, "value": out.value,
                  "forward": now("net.ipv4.ip_forward"), "forward_before": forward_before,
                  "keepalive": now("net.ipv4.tcp_keepalive_time")}))
"""


def _in_netns(params: dict, sysctl_d: Path) -> dict:
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) not installed")
    if os.geteuid() != 0:
        pytest.skip("unshare --net needs root")
    proc = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", IN_NETNS, json.dumps(params), str(sysctl_d)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _host_value(key: str) -> str:
    with open("/proc/sys/" + key.replace(".", "/")) as fh:
        return fh.read().strip()


async def test_set_for_real_in_a_network_namespace(tmp_path):
    before = _host_value("net.ipv4.ip_forward")
    res = _in_netns({"values": {"net.ipv4.ip_forward": 1, "net.ipv4.tcp_keepalive_time": "600"}}, tmp_path)
    assert res["state"] == "succeeded", res
    assert res["forward"] == "1" and res["keepalive"] == "600"
    changes = {c["key"]: c for c in res["value"]["changes"]}
    assert changes["net.ipv4.ip_forward"]["new"] == "1" and changes["net.ipv4.tcp_keepalive_time"]["old"] == "7200"
    assert _host_value("net.ipv4.ip_forward") == before  # the namespace kept it from the host


async def test_rejected_value_rolls_back_earlier_keys(tmp_path):
    res = _in_netns({"values": {"net.ipv4.tcp_keepalive_time": "600", "net.ipv4.ip_forward": "not-a-number"}}, tmp_path)
    assert res["code"] == "A014", res
    assert "restored 1" in res["message"]
    assert res["keepalive"] == "7200" and res["forward"] == res["forward_before"]


async def test_persist_updates_and_appends(tmp_path):
    conf = tmp_path / "60-test.conf"
    conf.write_text("# mine\nnet.ipv4.ip_forward = 0\nvm.swappiness = 10\n")
    res = _in_netns({"values": {"net.ipv4.ip_forward": "1", "net.ipv4.tcp_keepalive_time": "300"}, "persist": "60-test.conf"}, tmp_path)
    assert res["state"] == "succeeded", res
    assert res["value"]["persisted_to"] == str(conf)
    assert conf.read_text() == "# mine\nnet.ipv4.ip_forward = 1\nvm.swappiness = 10\nnet.ipv4.tcp_keepalive_time = 300\n"


async def test_dry_run_on_the_host_changes_nothing():
    before = _host_value("vm.swappiness")
    target = "13" if before != "13" else "14"
    out = await run_action("kernel.sysctl.set", {"values": {"vm.swappiness": target}, "dry_run": True})
    assert out.ok, out.message
    (c,) = out.value["changes"]
    assert (c["old"], c["requested"], c["new"], c["changed"]) == (before, target, before, True)
    assert _host_value("vm.swappiness") == before


@pytest.mark.parametrize(
    ("params", "code"),
    [({"values": {"kernel.no_such_key_zz": "1"}, "dry_run": True}, "A017"),
     ({"values": {"kernel.ostype": "BSD"}, "dry_run": True}, "A016"),
     ({"values": {}}, "A002"),
     ({"values": {"vm.swappiness": "1\n2"}, "dry_run": True}, "A002"),
     ({"values": {"../etc": "1"}, "dry_run": True}, "A002"),
     ({"values": {"vm.swappiness": "10"}, "persist": "../evil.conf", "dry_run": True}, "A002"),
     ({"values": {"vm.swappiness": "10"}, "apply": True}, "A002")],
)  # fmt: skip
async def test_set_refuses_bad_requests(params, code):
    before = _host_value("vm.swappiness")
    assert (await run_action("kernel.sysctl.set", params)).code == code
    assert _host_value("vm.swappiness") == before
