"""file.remove: files and trees removed with counts; system dirs and mounts refused."""

from __future__ import annotations

import os

from agent_core.testing import run_action


def _isdir(path: str) -> bool:
    return os.path.isdir(path)


async def test_remove_file_and_tree(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"x" * 10)
    out = await run_action("file.remove", {"path": str(f)})
    assert out.ok and out.value["files"] == 1 and out.value["bytes"] == 10 and not f.exists()
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "x").write_bytes(b"12345")
    (tree / "y").write_bytes(b"123")
    outside = tmp_path / "keep"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    os.symlink(outside, tree / "a" / "dirlink")  # must be unlinked, not followed
    out = await run_action("file.remove", {"path": str(tree)})
    assert out.code == "A002" and tree.exists()
    out = await run_action("file.remove", {"path": str(tree), "recursive": True})
    assert out.ok, out.message
    assert not tree.exists() and (outside / "precious").read_text() == "keep me"
    assert out.value["dirs"] == 3 and out.value["files"] == 3


async def test_remove_missing(tmp_path):
    assert (await run_action("file.remove", {"path": str(tmp_path / "gone")})).code == "A017"
    out = await run_action("file.remove", {"path": str(tmp_path / "gone"), "missing_ok": True})
    assert out.ok and out.value["existed"] is False


async def test_remove_refuses_system_paths_and_mounts(tmp_path):
    for path in ("/", "/etc", "/usr/", "/var/log", "/etc/../usr", "/proc"):
        out = await run_action("file.remove", {"path": path, "recursive": True})
        assert out.code == "A016", path
    assert _isdir("/etc")
    out = await run_action("file.remove", {"path": "/dev/shm", "recursive": True})
    assert out.code == "A016" and "mount" in out.message
    assert (await run_action("file.remove", {"path": "etc"})).code == "A002"
