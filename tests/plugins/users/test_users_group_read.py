from __future__ import annotations

import grp

from agent_core.testing import run_action


def _local_groups() -> dict[str, int]:
    with open("/etc/group") as fh:
        return {ln.split(":")[0]: int(ln.split(":")[2]) for ln in fh if ln.count(":") >= 3}


async def test_group_list_matches_etc_group():
    out = await run_action("user.group.list", {})
    assert out.ok, out.message
    assert {g["name"]: g["gid"] for g in out.value["groups"]} == _local_groups()
    for g in out.value["groups"]:
        assert g["members"] == list(grp.getgrnam(g["name"]).gr_mem)


async def test_group_list_primary_and_unknown_members(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text(
        "root:x:0:0::/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:100::/home/bob:/bin/bash\n"
    )
    (etc / "group").write_text(
        "root:x:0:\nusers:x:100:alice,ghost\nalice:x:1000:\ndocker:x:999:bob\n"
    )
    (etc / "login.defs").write_text("GID_MIN 1000\n")
    out = await run_action("user.group.list", {"root": str(tmp_path)})
    assert out.ok, out.message
    rows = {g["name"]: g for g in out.value["groups"]}
    assert rows["users"]["members"] == ["alice", "ghost"] and rows["users"]["primary_members"] == [
        "bob"
    ]
    assert rows["users"]["unknown_members"] == ["ghost"] and rows["users"]["system"] is True
    assert rows["alice"]["primary_members"] == ["alice"] and rows["alice"]["system"] is False
    out = await run_action("user.group.list", {"root": str(tmp_path), "member": "bob"})
    assert [g["name"] for g in out.value["groups"]] == ["users", "docker"]
    out = await run_action("user.group.list", {"root": str(tmp_path), "name": "docker"})
    assert [g["gid"] for g in out.value["groups"]] == [999]


async def test_group_list_errors():
    assert (await run_action("user.group.list", {"name": "stgrp-no-such-group"})).code == "A017"
    assert (await run_action("user.group.list", {"name": "bad name"})).code == "A002"
    assert (await run_action("user.group.list", {"root": "etc"})).code == "A002"


async def test_group_info(tmp_path):
    out = await run_action("user.group.info", {"name": "root"})
    assert out.ok and out.value["gid"] == 0 and out.value["system"] is True
    assert "root" in out.value["primary_members"]
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("carol:x:1000:1000::/home/carol:/bin/sh\n")
    (etc / "group").write_text("carol:x:1000:\nops:x:1500:carol,nobody2\n")
    out = await run_action("user.group.info", {"name": "ops", "root": str(tmp_path)})
    assert out.ok and out.value == {
        "name": "ops", "gid": 1500, "system": False, "members": ["carol", "nobody2"],
        "primary_members": [], "unknown_members": ["nobody2"],
    }
    assert (await run_action("user.group.info", {"name": "stgrp-no-such"})).code == "A017"
    assert (await run_action("user.group.info", {"name": "a b"})).code == "A002"
