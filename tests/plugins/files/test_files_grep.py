"""file.grep: matches agree with grep -rn; binary/large skipped; caps."""

from __future__ import annotations

import subprocess

from agent_core.testing import run_action


def _grep(*args):
    out = subprocess.run(["grep", *args], capture_output=True, text=True).stdout
    return sorted(out.splitlines())


async def test_grep_tree_matches_gnu_grep(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "a.conf").write_text("listen 80\n# listen 8080\nserver_name x\n")
    (tmp_path / "d" / "b.conf").write_text("LISTEN 443 ssl\nnothing\n")
    (tmp_path / "d" / "c.txt").write_text("listen here\n")
    (tmp_path / "bin").write_bytes(b"listen\x00\x01")
    out = await run_action("file.grep", {"pattern": r"listen \d+", "path": str(tmp_path), "ignore_case": True})
    assert out.ok, out.message
    got = sorted(f"{m['path']}:{m['line']}:{m['text']}" for m in out.value["matches"])
    assert got == _grep("-rniE", r"listen [0-9]+", "-I", str(tmp_path))
    assert out.value["skipped_binary"] == 1 and out.value["files_matched"] == 2
    out = await run_action("file.grep", {"pattern": "listen", "path": str(tmp_path), "include": "*.txt"})
    assert [m["path"] for m in out.value["matches"]] == [str(tmp_path / "d" / "c.txt")]
    out = await run_action("file.grep", {"pattern": "a.conf", "fixed": True, "path": str(tmp_path / "a.conf")})
    assert out.value["matches"] == []


async def test_grep_caps(tmp_path):
    f = tmp_path / "many"
    f.write_text("hit\n" * 50)
    out = await run_action("file.grep", {"pattern": "hit", "path": str(f), "max_matches": 7})
    assert len(out.value["matches"]) == 7 and out.value["truncated"] is True
    out = await run_action("file.grep", {"pattern": "hit", "path": str(f), "max_file_size": 10})
    assert out.value["skipped_large"] == 1 and out.value["matches"] == []


async def test_grep_errors(tmp_path):
    assert (await run_action("file.grep", {"pattern": "(", "path": str(tmp_path)})).code == "A002"
    assert (await run_action("file.grep", {"pattern": "x", "path": str(tmp_path / "no")})).code == "A017"
    assert (await run_action("file.grep", {"pattern": "", "path": str(tmp_path)})).code == "A002"
