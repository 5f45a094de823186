from __future__ import annotations

from agent_core.testing import run_action

HOSTS = """\
# static names
127.0.0.1   localhost
10.0.0.5    db1.example db1   # primary
10.0.0.6    db1.example
fe80::1%eth0 router6
::1         localhost ip6-localhost
not-an-ip   broken
10.0.0.9
"""


async def test_hosts_parse_and_problems(tmp_path):
    path = tmp_path / "hosts"
    path.write_text(HOSTS)
    out = await run_action("net.hosts", {"path": str(path)})
    assert out.ok, out.message
    v = out.value
    assert [(e["line"], e["address"], e["names"]) for e in v["entries"]] == [
        (2, "127.0.0.1", ["localhost"]),
        (3, "10.0.0.5", ["db1.example", "db1"]),
        (4, "10.0.0.6", ["db1.example"]),
        (5, "fe80::1%eth0", ["router6"]),
        (6, "::1", ["localhost", "ip6-localhost"]),
    ]
    assert v["entries"][1]["comment"] == "primary"
    assert v["problems"] == [
        "line 7: 'not-an-ip' is not an IP address",
        "line 8: address 10.0.0.9 has no name",
        "line 4: db1.example -> 10.0.0.6 is shadowed by line 3 (10.0.0.5)",
    ]
    out = await run_action("net.hosts", {"path": str(path), "name": "LOCALHOST"})
    assert [e["address"] for e in out.value["entries"]] == ["127.0.0.1", "::1"]


def _etc_hosts() -> list[tuple[str, list[str]]]:
    expected = []
    with open("/etc/hosts") as fh:
        for line in fh:
            fields = line.split("#")[0].split()
            if len(fields) >= 2:
                expected.append((fields[0], fields[1:]))
    return expected


async def test_hosts_system_file():
    out = await run_action("net.hosts")
    assert out.ok, out.message
    assert [(e["address"], e["names"]) for e in out.value["entries"]] == _etc_hosts()


async def test_hosts_bad_params(tmp_path):
    assert (await run_action("net.hosts", {"path": "etc/hosts"})).code == "A002"
    assert (await run_action("net.hosts", {"path": str(tmp_path / "missing")})).code == "A017"
    assert (await run_action("net.hosts", {"path": str(tmp_path)})).code == "A002"
    assert (await run_action("net.hosts", {"name": "bad name"})).code == "A002"
