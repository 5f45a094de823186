"""user.group.present / absent on real groups, inside the private /etc (see conftest)."""

from __future__ import annotations

import grp
import shutil

import pytest

from agent_core.testing import host_etc_text, run_action

from .conftest import unique

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("groupadd", "groupmod", "groupdel", "gpasswd")),
    reason="groupadd/groupmod/groupdel/gpasswd absent on this host: the real path is not exercised here",
)


def _exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


async def test_group_lifecycle(temp_user, private_etc):
    name, user = unique("stgrp"), temp_user.pw_name
    try:
        dry = await run_action("user.group.present", {"name": name, "gid": 4711, "dry_run": True})
        assert dry.ok and dry.value["changed"] and dry.value["group"] is None and not _exists(name)
        out = await run_action("user.group.present", {"name": name, "gid": 4711, "members": [user]})
        assert out.ok, out.message
        assert out.value["diff"] == f"+ group {name} (gid=4711)\n+ member {user}\n"
        assert out.value["group"]["gid"] == 4711 and grp.getgrnam(name).gr_mem == [user]
        assert f"\n{name}:" not in "\n" + host_etc_text("group")
        again = await run_action("user.group.present", {"name": name, "gid": 4711, "members": [user]})
        assert again.ok and again.value["changed"] is False
        out = await run_action("user.group.present", {"name": name, "gid": 4712, "remove_members": [user]})
        assert out.ok and out.value["diff"] == f"gid: 4711 -> 4712\n- member {user}\n"
        assert grp.getgrnam(name).gr_gid == 4712 and grp.getgrnam(name).gr_mem == []
        out = await run_action("user.group.present", {"name": name, "add_members": [user]})
        assert out.ok and out.value["group"]["members"] == [user]
        out = await run_action("user.group.absent", {"name": name})
        assert out.ok and out.value["changed"] and out.value["group"] is None and not _exists(name)
        assert (await run_action("user.group.absent", {"name": name})).value["changed"] is False
    finally:
        if _exists(name):
            import subprocess

            subprocess.run(["groupdel", name], capture_output=True)


async def test_group_refusals_and_bad_params(temp_user):
    assert (await run_action("user.group.absent", {"name": "sudo"})).code in ("A016", "A017")
    assert (await run_action("user.group.absent", {"name": "root"})).code == "A016"
    # groupdel refuses the primary group of an existing user.
    out = await run_action("user.group.absent", {"name": grp.getgrgid(temp_user.pw_gid).gr_name})
    assert out.code in ("A014", "A016") and _exists(grp.getgrgid(temp_user.pw_gid).gr_name)
    out = await run_action("user.group.present", {"name": "stgrp-no-such", "add_members": ["sttest-nobody"]})
    assert out.code == "A017" and not _exists("stgrp-no-such")
    assert (await run_action("user.group.present", {"name": "Bad Group"})).code == "A002"
    assert (await run_action("user.group.present", {"name": "stgrpx", "gid": -5})).code == "A002"
