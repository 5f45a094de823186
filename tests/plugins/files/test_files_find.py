"""file.find: filters agree with find(1); caps are reported."""

from __future__ import annotations

import os
import subprocess
import time

from agent_core.testing import run_action


def _tree(root):
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "small.log").write_text("x")
    (root / "a" / "b" / "big.log").write_bytes(b"y" * 5000)
    (root / "a" / "b" / "notes.txt").write_text("z" * 10)
    (root / "top.LOG").write_text("q")
    os.symlink("a/small.log", root / "link.log")
    old = time.time() - 10 * 86400
    os.utime(root / "a" / "b" / "notes.txt", (old, old))


def _find(*args):
    out = subprocess.run(["find", *args], capture_output=True, text=True, check=True).stdout
    return sorted(out.split())


async def test_find_by_name_type_size_age(tmp_path):
    _tree(tmp_path)
    root = str(tmp_path)
    out = await run_action("file.find", {"root": root, "name": "*.log"})
    assert out.ok, out.message
    assert sorted(e["path"] for e in out.value["entries"]) == _find(root, "-mindepth", "1", "-name", "*.log")
    out = await run_action("file.find", {"root": root, "name": "*.log", "ignore_case": True, "type": "file"})
    assert sorted(e["path"] for e in out.value["entries"]) == _find(root, "-iname", "*.log", "-type", "f")
    out = await run_action("file.find", {"root": root, "min_size": 100, "type": "file"})
    assert [e["path"] for e in out.value["entries"]] == [str(tmp_path / "a" / "b" / "big.log")]
    assert out.value["entries"][0]["size"] == 5000
    out = await run_action("file.find", {"root": root, "older_than": 86400})
    assert [e["path"] for e in out.value["entries"]] == _find(root, "-mindepth", "1", "-mtime", "+1")
    out = await run_action("file.find", {"root": root, "type": "link"})
    assert [e["type"] for e in out.value["entries"]] == ["link"]
    out = await run_action("file.find", {"root": root, "max_depth": 1})
    assert sorted(e["path"] for e in out.value["entries"]) == _find(root, "-mindepth", "1", "-maxdepth", "1")


async def test_find_caps(tmp_path):
    for i in range(30):
        (tmp_path / f"f{i}").write_text("")
    out = await run_action("file.find", {"root": str(tmp_path), "max_results": 5})
    assert out.ok and len(out.value["entries"]) == 5 and out.value["truncated"] is True
    out = await run_action("file.find", {"root": str(tmp_path), "max_scan": 10})
    assert out.value["scanned"] == 10 and out.value["scan_truncated"] is True


async def test_find_errors(tmp_path):
    assert (await run_action("file.find", {"root": str(tmp_path / "none")})).code == "A017"
    (tmp_path / "f").write_text("")
    assert (await run_action("file.find", {"root": str(tmp_path / "f")})).code == "A002"
    assert (await run_action("file.find", {"root": str(tmp_path), "type": "weird"})).code == "A002"
    assert (await run_action("file.find", {"root": str(tmp_path), "min_size": 10, "max_size": 1})).code == "A002"
