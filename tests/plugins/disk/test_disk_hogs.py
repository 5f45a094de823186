"""disk.hogs on a tree built for the test, with a deleted file this test keeps open."""

from __future__ import annotations

import os

import pytest

from agent_core.testing import run_action

MIB = 1024 * 1024


def _write(path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(os.urandom(size))  # real data: blocks are allocated, as df counts them


@pytest.fixture
def tree(tmp_path):
    _write(tmp_path / "big" / "one.bin", 3 * MIB)
    _write(tmp_path / "big" / "sub" / "deeper" / "two.bin", 2 * MIB)
    _write(tmp_path / "small" / "x.txt", 10 * 1024)
    os.link(tmp_path / "big" / "one.bin", tmp_path / "big" / "one-link.bin")  # same inode: counted once
    held = open(tmp_path / "rotated.log", "wb")  # noqa: SIM115 - kept open on purpose
    held.write(os.urandom(MIB))
    held.flush()
    os.unlink(tmp_path / "rotated.log")
    yield tmp_path
    held.close()


async def test_biggest_dirs_files_and_deleted_space(tree):
    out = await run_action("disk.hogs", {"path": str(tree), "depth": 2, "top": 5})
    assert out.ok, out.message
    v = out.value
    dirs = {d["path"]: d["bytes"] for d in v["directories"]}
    assert v["directories"][0]["path"] == str(tree / "big")
    assert dirs[str(tree / "big")] >= 5 * MIB
    assert dirs[str(tree / "big" / "sub")] >= 2 * MIB
    assert str(tree / "big" / "sub" / "deeper") not in dirs  # below depth 2
    assert dirs[str(tree / "big")] < 6 * MIB  # the hard link did not double it
    assert dirs[str(tree / "small")] < MIB
    first, second = (f["path"] for f in v["files"][:2])
    assert first in (str(tree / "big" / "one.bin"), str(tree / "big" / "one-link.bin"))
    assert second == str(tree / "big" / "sub" / "deeper" / "two.bin")
    assert 5 * MIB <= v["scanned_bytes"] < 6 * MIB
    assert str(tree / "rotated.log") in [d["path"] for d in v["deleted_open"]]
    assert v["deleted_open_bytes"] >= MIB
    st = os.statvfs(tree)
    assert v["fs_size"] == st.f_blocks * st.f_frsize
    assert v["truncated"] is False


async def test_max_entries_truncates(tree):
    out = await run_action("disk.hogs", {"path": str(tree), "max_entries": 3})
    assert out.ok and out.value["truncated"] is True


@pytest.mark.parametrize(
    ("params", "code"),
    [({"path": "tmp"}, "A002"), ({"path": "/no/such/dir"}, "A017"), ({"depth": 0}, "A002"), ({"top": 0}, "A002"), ({"dir": "/"}, "A002")],
)
async def test_hogs_errors(params, code):
    assert (await run_action("disk.hogs", params)).code == code
