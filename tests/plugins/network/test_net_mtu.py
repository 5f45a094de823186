from __future__ import annotations

import json
import subprocess

from agent_core.testing import run_action


def _mtu(ns: str, dev: str) -> int:
    out = subprocess.run(
        ["ip", "-n", ns, "-j", "link", "show", "dev", dev],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)[0]["mtu"]


def _sys_mtu(dev: str) -> int:
    with open(f"/sys/class/net/{dev}/mtu") as fh:
        return int(fh.read())


async def test_mtu_get_local():
    out = await run_action("net.mtu", {"iface": "lo"})
    assert out.ok, out.message
    (lo,) = out.value["interfaces"]
    assert lo["mtu"] == _sys_mtu("lo")


async def test_mtu_set_in_namespace(veth_ns):
    out = await run_action("net.mtu", {"netns": veth_ns})
    assert out.ok, out.message
    va = next(i for i in out.value["interfaces"] if i["iface"] == "va")
    assert va["mtu"] == _mtu(veth_ns, "va") and va["min_mtu"] == 68 and va["max_mtu"] >= 9000

    out = await run_action("net.mtu.set", {"netns": veth_ns, "iface": "va", "mtu": 1400})
    assert out.ok, out.message
    assert out.value == {"iface": "va", "old_mtu": va["mtu"], "mtu": 1400, "changed": True}
    assert _mtu(veth_ns, "va") == 1400
    out = await run_action("net.mtu.set", {"netns": veth_ns, "iface": "va", "mtu": 1400})
    assert out.ok and out.value["changed"] is False

    # vb still has the old MTU: not a master/slave pair, so no mismatch is reported.
    out = await run_action("net.mtu", {"netns": veth_ns, "iface": "va"})
    assert out.value["interfaces"][0]["mtu"] == 1400 and out.value["mismatches"] == []


async def test_mtu_bad_params(veth_ns):
    out = await run_action("net.mtu.set", {"netns": veth_ns, "iface": "va", "mtu": 70000})
    assert out.code == "A002" and "maximum" in out.message
    assert _mtu(veth_ns, "va") != 70000
    assert (
        await run_action("net.mtu.set", {"netns": veth_ns, "iface": "va", "mtu": 20})
    ).code == "A002"
    assert (
        await run_action("net.mtu.set", {"netns": veth_ns, "iface": "nope0", "mtu": 1400})
    ).code == "A017"
    assert (
        await run_action("net.mtu.set", {"netns": "st-no-such-ns", "iface": "va", "mtu": 1400})
    ).code == "A017"
    assert (await run_action("net.mtu.set", {"iface": "va"})).code == "A002"
