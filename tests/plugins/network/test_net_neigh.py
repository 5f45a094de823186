from __future__ import annotations

from agent_core.testing import run_action


async def test_neigh_permanent_entry_in_namespace(veth_ns, sh):
    sh(
        "ip",
        "-n",
        veth_ns,
        "neigh",
        "add",
        "10.99.0.77",
        "lladdr",
        "02:00:00:00:00:77",
        "dev",
        "va",
        "nud",
        "permanent",
    )
    out = await run_action("net.neigh", {"netns": veth_ns, "state": "permanent"})
    assert out.ok, out.message
    assert out.value["source"] == "ip"
    assert out.value["neighbours"] == [
        {
            "address": "10.99.0.77",
            "family": "inet",
            "iface": "va",
            "mac": "02:00:00:00:00:77",
            "state": "PERMANENT",
            "router": False,
        }
    ]
    out = await run_action("net.neigh", {"netns": veth_ns, "family": "inet6", "state": "PERMANENT"})
    assert out.ok and out.value["neighbours"] == []


def _proc_arp() -> set[tuple[str, str]]:
    with open("/proc/net/arp") as fh:
        return {(line.split()[0], line.split()[5]) for line in fh.readlines()[1:] if line.strip()}


async def test_neigh_matches_proc_arp():
    out = await run_action("net.neigh", {"family": "inet"})
    assert out.ok, out.message
    arp = _proc_arp()
    got = {(n["address"], n["iface"]) for n in out.value["neighbours"]}
    # ip shows every IPv4 entry the kernel has, /proc/net/arp too (read a moment later).
    assert arp <= got


async def test_neigh_bad_params():
    assert (await run_action("net.neigh", {"state": "happy"})).code == "A002"
    assert (await run_action("net.neigh", {"netns": "../etc"})).code == "A002"
    assert (await run_action("net.neigh", {"iface": "nosuchif0"})).code == "A017"
