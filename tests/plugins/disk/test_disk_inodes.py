"""disk.inodes against statvfs, and the per-directory counter on a built tree."""

from __future__ import annotations

import os

import pytest

from agent_core.testing import run_action


def _statvfs(path: str) -> os.statvfs_result:
    return os.statvfs(path)


def _build(root, counts: dict[str, int]) -> None:
    for name, n in counts.items():
        d = root / name
        (d / "sub").mkdir(parents=True)
        for i in range(n - 1):  # n - 1 files plus the "sub" directory itself = n entries
            (d / "sub" / f"f{i}").touch() if i % 2 else (d / f"f{i}").touch()


async def test_inodes_of_root_match_statvfs():
    out = await run_action("disk.inodes")
    assert out.ok, out.message
    root = next(f for f in out.value["filesystems"] if f["mountpoint"] == "/")
    st = _statvfs("/")
    assert root["total"] == st.f_files
    assert abs(root["free"] - st.f_ffree) < 10000
    assert root["used"] == root["total"] - root["free"]
    assert root["dynamic"] == (st.f_files == 0)


async def test_count_in_finds_the_fullest_directory(tmp_path):
    _build(tmp_path, {"sessions": 300, "cache": 40, "empty": 1})
    (tmp_path / "plainfile").touch()
    out = await run_action("disk.inodes", {"count_in": str(tmp_path), "top": 2})
    assert out.ok, out.message
    assert out.value["top_dirs"] == [
        {"path": str(tmp_path / "sessions"), "entries": 300},
        {"path": str(tmp_path / "cache"), "entries": 40},
    ]
    assert out.value["truncated"] is False
    capped = await run_action("disk.inodes", {"count_in": str(tmp_path), "max_entries": 50})
    assert capped.value["truncated"] is True and capped.value["counted"] <= 50


@pytest.mark.parametrize(
    ("params", "code"),
    [({"count_in": "tmp"}, "A002"), ({"count_in": "/no/such/dir"}, "A017"), ({"top": 0}, "A002"), ({"threshold": -1}, "A002"), ({"x": 1}, "A002")],
)
async def test_inodes_errors(params, code):
    assert (await run_action("disk.inodes", params)).code == code
