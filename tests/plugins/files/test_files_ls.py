"""file.ls: entries agree with os.lstat; hidden, sorting and limit."""

from __future__ import annotations

import os
import pwd

from agent_core.testing import run_action


async def test_ls_entries(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * 300)
    (tmp_path / "small").write_bytes(b"x")
    (tmp_path / ".hidden").write_text("")
    (tmp_path / "dir").mkdir()
    os.symlink("big", tmp_path / "lnk")
    out = await run_action("file.ls", {"path": str(tmp_path)})
    assert out.ok, out.message
    names = [e["name"] for e in out.value["entries"]]
    assert names == sorted(n for n in os.listdir(tmp_path) if not n.startswith("."))
    by = {e["name"]: e for e in out.value["entries"]}
    s = os.lstat(tmp_path / "big")
    assert by["big"]["size"] == 300 and by["big"]["mode"] == f"{s.st_mode & 0o7777:04o}"
    assert by["big"]["owner"] == pwd.getpwuid(s.st_uid).pw_name
    assert by["lnk"]["type"] == "link" and by["lnk"]["target"] == "big"
    assert by["dir"]["type"] == "dir"
    out = await run_action("file.ls", {"path": str(tmp_path), "all": True, "sort": "size", "limit": 2})
    by_size = sorted(os.listdir(tmp_path), key=lambda n: -os.lstat(tmp_path / n).st_size)
    assert [e["name"] for e in out.value["entries"]] == by_size[:2]
    assert out.value["total"] == 5 and out.value["truncated"] is True


async def test_ls_errors(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    assert (await run_action("file.ls", {"path": str(f)})).code == "A002"
    assert (await run_action("file.ls", {"path": str(tmp_path / "nope")})).code == "A017"
    assert (await run_action("file.ls", {"path": str(tmp_path), "sort": "color"})).code == "A002"
