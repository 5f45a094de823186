from __future__ import annotations

import grp
import shutil

import pytest

from agent_core.testing import run_action

HAS_TOOLS = all(shutil.which(t) for t in ("groupadd", "groupdel", "gpasswd"))


def _members(name: str) -> list[str]:
    return list(grp.getgrnam(name).gr_mem)


def _exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


async def test_group_lifecycle(temp_user):
    name = "stgrp" + temp_user.pw_name[6:]
    if not HAS_TOOLS:
        assert (await run_action("group.add", {"name": name})).code == "A003"
        pytest.skip("groupadd/groupdel/gpasswd absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    try:
        out = await run_action("group.add", {"name": name})
        assert out.ok, out.message
        assert out.value == {"name": name, "gid": grp.getgrnam(name).gr_gid, "members": []}
        out = await run_action("group.adduser", {"group": name, "user": temp_user.pw_name})
        assert out.ok and out.value["members"] == [temp_user.pw_name] == _members(name)
        out = await run_action("group.deluser", {"group": name, "user": temp_user.pw_name})
        assert out.ok and out.value["members"] == [] == _members(name)
        assert (
            await run_action("group.deluser", {"group": name, "user": temp_user.pw_name})
        ).code == "A017"
        assert (await run_action("group.add", {"name": name})).code == "A014"
        out = await run_action("group.remove", {"name": name})
        assert out.ok and not _exists(name)
    finally:
        if _exists(name):
            await run_action("group.remove", {"name": name})


async def test_group_refusals_and_bad_params(temp_user):
    if not HAS_TOOLS:
        pytest.skip("groupadd/groupdel/gpasswd absent on this host: the real path is not exercised here")
    assert (await run_action("group.remove", {"name": "sudo"})).code == "A016"
    assert (await run_action("group.remove", {"name": "root"})).code == "A016"
    # groupdel refuses a group that is still a user's primary group.
    out = await run_action("group.remove", {"name": grp.getgrgid(temp_user.pw_gid).gr_name})
    assert out.code == "A014"
    assert (
        await run_action("group.adduser", {"group": "stgrp-no-such", "user": temp_user.pw_name})
    ).code == "A017"
    assert (await run_action("group.add", {"name": "Bad Group"})).code == "A002"
    assert (await run_action("group.add", {"name": "stgrpx", "gid": -5})).code == "A002"
