"""file.copy: atomic file copy with sha256, into-dir semantics, trees, refusals."""

from __future__ import annotations

import hashlib
import os

from agent_core.testing import run_action


async def test_copy_file(tmp_path):
    src = tmp_path / "src"
    blob = os.urandom(2_500_000)
    src.write_bytes(blob)
    os.chmod(src, 0o640)
    dest = tmp_path / "dest"
    out = await run_action("file.copy", {"src": str(src), "dest": str(dest)})
    assert out.ok, out.message
    assert dest.read_bytes() == blob and out.value["sha256"] == hashlib.sha256(blob).hexdigest()
    assert dest.stat().st_mode & 0o777 == 0o640 and dest.stat().st_mtime == src.stat().st_mtime
    assert (await run_action("file.copy", {"src": str(src), "dest": str(dest)})).code == "A014"
    src.write_text("new")
    out = await run_action("file.copy", {"src": str(src), "dest": str(dest), "overwrite": True})
    assert out.ok and dest.read_text() == "new"
    d = tmp_path / "dir"
    d.mkdir()
    out = await run_action("file.copy", {"src": str(src), "dest": str(d)})
    assert out.value["dest"] == str(d / "src") and (d / "src").read_text() == "new"


async def test_copy_tree(tmp_path):
    src = tmp_path / "s"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a").write_text("aa")
    (src / "b").write_text("bbb")
    os.symlink("b", src / "lnk")
    dest = tmp_path / "d"
    assert (await run_action("file.copy", {"src": str(src), "dest": str(dest)})).code == "A002"
    out = await run_action("file.copy", {"src": str(src), "dest": str(dest), "recursive": True})
    assert out.ok, out.message
    assert (dest / "sub" / "a").read_text() == "aa" and os.readlink(dest / "lnk") == "b"
    assert out.value["files"] == 2 and out.value["bytes"] == 5
    out = await run_action("file.copy", {"src": str(src), "dest": str(src / "sub"), "recursive": True})
    assert out.code == "A002"


async def test_copy_errors(tmp_path):
    assert (await run_action("file.copy", {"src": str(tmp_path / "no"), "dest": str(tmp_path / "x")})).code == "A017"
    f = tmp_path / "f"
    f.write_text("")
    assert (await run_action("file.copy", {"src": str(f), "dest": str(f)})).code == "A002"
    assert (await run_action("file.copy", {"src": "f", "dest": str(f)})).code == "A002"
