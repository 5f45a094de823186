"""file.symlink: create, idempotent, repoint with force, never clobber a file."""

from __future__ import annotations

import os

from agent_core.testing import run_action


async def test_symlink_lifecycle(tmp_path):
    link = tmp_path / "current"
    out = await run_action("file.symlink", {"target": "releases/1", "link": str(link)})
    assert out.ok and out.value["changed"] is True and out.value["target_exists"] is False
    assert os.readlink(link) == "releases/1"
    again = await run_action("file.symlink", {"target": "releases/1", "link": str(link)})
    assert again.value["changed"] is False
    (tmp_path / "releases" / "2").mkdir(parents=True)
    out = await run_action("file.symlink", {"target": "releases/2", "link": str(link)})
    assert out.code == "A014" and os.readlink(link) == "releases/1"
    out = await run_action("file.symlink", {"target": "releases/2", "link": str(link), "force": True})
    assert out.ok and out.value["previous"] == "releases/1" and out.value["target_exists"] is True
    assert os.readlink(link) == "releases/2"
    assert sorted(os.listdir(tmp_path)) == ["current", "releases"]


async def test_symlink_refuses_real_file(tmp_path):
    f = tmp_path / "real"
    f.write_text("keep")
    out = await run_action("file.symlink", {"target": "/etc/hosts", "link": str(f), "force": True})
    assert out.code == "A014" and f.read_text() == "keep"
    assert (await run_action("file.symlink", {"target": "", "link": str(tmp_path / "l")})).code == "A002"
    assert (await run_action("file.symlink", {"target": "x", "link": "rel"})).code == "A002"
