"""file.diff: unified diff agrees with diff -u; whitespace; binary; errors."""

from __future__ import annotations

import os
import subprocess

from agent_core.testing import run_action


def _sh(*argv: str, check: bool = True) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check).stdout


async def test_diff_matches_gnu_diff(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("".join(f"line {i}\n" for i in range(40)))
    b.write_text("".join(f"line {i}\n" for i in range(40) if i != 5).replace("line 30", "LINE 30") + "tail")
    out = await run_action("file.diff", {"a": str(a), "b": str(b)})
    assert out.ok, out.message
    gnu = _sh("diff", "-u", str(a), str(b), check=False)
    # Skip the header lines: GNU diff prints timestamps there.
    assert out.value["diff"].splitlines()[2:] == gnu.splitlines()[2:]
    assert out.value["identical"] is False and out.value["removed"] == 2 and out.value["added"] == 2
    out = await run_action("file.diff", {"a": str(a), "b": str(a)})
    assert out.value["identical"] is True and out.value["diff"] == ""


async def test_diff_whitespace_binary_and_cap(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("x  = 1\ny=2\n")
    b.write_text("x = 1\ny=3\n")
    out = await run_action("file.diff", {"a": str(a), "b": str(b), "ignore_whitespace": True})
    assert out.value["removed"] == 1 and "-y=2" in out.value["diff"] and "-x  = 1" not in out.value["diff"]
    b.write_text("x =   1\ny=2\n")
    out = await run_action("file.diff", {"a": str(a), "b": str(b), "ignore_whitespace": True})
    assert out.value["identical"] is True
    c, d = tmp_path / "c", tmp_path / "d"
    c.write_bytes(b"\x00" + os.urandom(100))
    d.write_bytes(b"\x00" + os.urandom(100))
    out = await run_action("file.diff", {"a": str(c), "b": str(d)})
    assert out.value["binary"] is True and out.value["identical"] is False
    a.write_text("".join(f"{i}\n" for i in range(1000)))
    b.write_text("".join(f"{i}!\n" for i in range(1000)))
    out = await run_action("file.diff", {"a": str(a), "b": str(b), "max_diff": 100})
    assert out.value["truncated"] is True and len(out.value["diff"]) == 100 and out.value["added"] == 1000


async def test_diff_errors(tmp_path):
    (tmp_path / "a").write_text("x" * 100)
    assert (await run_action("file.diff", {"a": str(tmp_path / "a"), "b": str(tmp_path / "no")})).code == "A017"
    assert (await run_action("file.diff", {"a": str(tmp_path / "a"), "b": str(tmp_path)})).code == "A002"
    out = await run_action("file.diff", {"a": str(tmp_path / "a"), "b": str(tmp_path / "a"), "max_bytes": 10})
    assert out.code == "A002"
    assert (await run_action("file.diff", {"a": str(tmp_path / "a")})).code == "A002"
