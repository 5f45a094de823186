"""file.chown: owner/group changes on a temp tree, links not followed."""

from __future__ import annotations

import grp
import os
import pwd

from agent_core.testing import run_action


async def test_chown_tree(tmp_path):
    nobody = pwd.getpwnam("nobody")
    nogroup = grp.getgrgid(nobody.pw_gid)
    root = tmp_path / "t"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_text("")
    os.symlink("/etc/hostname", root / "l")
    host_owner = os.stat("/etc/hostname").st_uid
    out = await run_action("file.chown", {"path": str(root), "owner": "nobody", "recursive": True})
    assert out.ok, out.message
    for p in (root, root / "d", root / "d" / "f"):
        assert os.lstat(p).st_uid == nobody.pw_uid
    assert os.lstat(root / "l").st_uid == nobody.pw_uid and os.stat("/etc/hostname").st_uid == host_owner
    assert out.value["changed"] == 4
    again = await run_action("file.chown", {"path": str(root), "owner": str(nobody.pw_uid), "recursive": True})
    assert again.value["changed"] == 0
    out = await run_action("file.chown", {"path": str(root / "d" / "f"), "group": nogroup.gr_name})
    assert out.ok and os.stat(root / "d" / "f").st_gid == nogroup.gr_gid


async def test_chown_errors(tmp_path):
    assert (await run_action("file.chown", {"path": str(tmp_path)})).code == "A002"
    assert (await run_action("file.chown", {"path": str(tmp_path), "owner": "no-such-user-q"})).code == "A017"
    assert (await run_action("file.chown", {"path": str(tmp_path / "x"), "owner": "root"})).code == "A017"
    assert (await run_action("file.chown", {"path": "/etc", "owner": "root", "recursive": True})).code == "A016"
