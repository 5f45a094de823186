"""file.move: rename, into-dir, overwrite rules, across filesystems (/dev/shm)."""

from __future__ import annotations

import os
import shutil
import uuid

import pytest

from agent_core.testing import run_action


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


async def test_move_rename_and_into_dir(tmp_path):
    a = tmp_path / "a"
    a.write_text("data")
    out = await run_action("file.move", {"src": str(a), "dest": str(tmp_path / "b")})
    assert out.ok and out.value["cross_device"] is False
    assert not a.exists() and (tmp_path / "b").read_text() == "data"
    d = tmp_path / "d"
    d.mkdir()
    out = await run_action("file.move", {"src": str(tmp_path / "b"), "dest": str(d)})
    assert out.value["dest"] == str(d / "b") and (d / "b").exists()
    (tmp_path / "c").write_text("other")
    out = await run_action("file.move", {"src": str(tmp_path / "c"), "dest": str(d / "b")})
    assert out.code == "A014" and (d / "b").read_text() == "data"
    out = await run_action("file.move", {"src": str(tmp_path / "c"), "dest": str(d / "b"), "overwrite": True})
    assert out.ok and out.value["replaced"] and (d / "b").read_text() == "other"


async def test_move_across_filesystems(tmp_path):
    if os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("a second filesystem (/dev/shm is on the same one) absent on this host: the real path is not exercised here")
    src = tmp_path / "tree"
    (src / "x").mkdir(parents=True)
    (src / "x" / "f").write_text("moved")
    dest = f"/dev/shm/starling-test-{uuid.uuid4().hex}"
    try:
        out = await run_action("file.move", {"src": str(src), "dest": dest})
        assert out.ok, out.message
        assert out.value["cross_device"] is True and not src.exists()
        assert _read(f"{dest}/x/f") == "moved"
    finally:
        shutil.rmtree(dest, ignore_errors=True)


async def test_move_errors(tmp_path):
    assert (await run_action("file.move", {"src": str(tmp_path / "none"), "dest": str(tmp_path / "x")})).code == "A017"
    assert (await run_action("file.move", {"src": "/etc", "dest": str(tmp_path / "etc")})).code == "A016"
    (tmp_path / "d").mkdir()
    assert (await run_action("file.move", {"src": str(tmp_path / "d"), "dest": str(tmp_path / "d" / "in")})).code == "A002"
    assert (await run_action("file.move", {"src": str(tmp_path), "dest": 5})).code == "A002"
