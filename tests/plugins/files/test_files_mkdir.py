"""file.mkdir: parents, exact mode, owner, idempotence, conflicts."""

from __future__ import annotations

import os
import pwd
import stat

from agent_core.testing import run_action


async def test_mkdir_parents_mode_and_idempotence(tmp_path):
    target = tmp_path / "a" / "b" / "c"
    old = os.umask(0o077)
    try:
        out = await run_action("file.mkdir", {"path": str(target), "mode": "0775", "owner": "nobody"})
    finally:
        os.umask(old)
    assert out.ok, out.message
    assert out.value["created"] == [str(tmp_path / "a"), str(tmp_path / "a" / "b"), str(target)]
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o775  # not filtered by the umask
    assert os.stat(target).st_uid == pwd.getpwnam("nobody").pw_uid
    again = await run_action("file.mkdir", {"path": str(target)})
    assert again.ok and again.value["changed"] is False and again.value["created"] == []


async def test_mkdir_errors(tmp_path):
    (tmp_path / "file").write_text("")
    assert (await run_action("file.mkdir", {"path": str(tmp_path / "file")})).code == "A014"
    assert (await run_action("file.mkdir", {"path": str(tmp_path / "file" / "sub")})).code == "A014"
    out = await run_action("file.mkdir", {"path": str(tmp_path / "x" / "y"), "parents": False})
    assert out.code == "A017" and not (tmp_path / "x").exists()
    assert (await run_action("file.mkdir", {"path": "rel/dir"})).code == "A002"
    assert (await run_action("file.mkdir", {"path": str(tmp_path / "m"), "mode": "rwx"})).code == "A002"
