"""disk.deleted finds a file this test unlinks while holding it open."""

from __future__ import annotations

import os

import pytest

from agent_core.testing import run_action


@pytest.fixture
def held_file(tmp_path):
    path = tmp_path / "rotated.log"
    fh = open(path, "wb")  # noqa: SIM115 - held open on purpose
    fh.write(os.urandom(3 * 1024 * 1024))
    fh.flush()
    os.fsync(fh.fileno())
    os.unlink(path)
    yield path, fh
    fh.close()


async def test_unlinked_open_file_is_found(held_file):
    path, fh = held_file
    out = await run_action("disk.deleted", {"min_bytes": 1024 * 1024})
    assert out.ok, out.message
    mine = [f for f in out.value["files"] if f["path"] == str(path)]
    assert len(mine) == 1, out.value["files"]
    f = mine[0]
    assert f["size"] >= 3 * 1024 * 1024
    assert {"pid": os.getpid(), "fd": fh.fileno()} in [{"pid": h["pid"], "fd": h["fd"]} for h in f["holders"]]
    assert f["inode"] == os.fstat(fh.fileno()).st_ino
    assert out.value["total"] >= f["size"]
    assert out.value["by_mount"][f["mountpoint"]] >= f["size"]


async def test_closing_releases_it(held_file):
    path, fh = held_file
    fh.close()
    out = await run_action("disk.deleted", {"min_bytes": 1024 * 1024})
    assert str(path) not in [f["path"] for f in out.value["files"]]


async def test_min_bytes_filters(held_file):
    path, _ = held_file
    out = await run_action("disk.deleted", {"min_bytes": 64 * 1024 * 1024})
    assert str(path) not in [f["path"] for f in out.value["files"]]


@pytest.mark.parametrize("params", [{"min_bytes": -1}, {"top": 0}, {"pid": 1}])
async def test_deleted_bad_params(params):
    assert (await run_action("disk.deleted", params)).code == "A002"
