"""file.tail: last lines read backwards, end offset, caps."""

from __future__ import annotations

import subprocess

from agent_core.testing import run_action


def _sh(*argv: str, check: bool = True) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check).stdout


async def test_tail_matches_coreutils_on_large_file(tmp_path):
    f = tmp_path / "big.log"
    # Far more than one 64 KiB block, so the backwards read crosses block edges.
    f.write_text("".join(f"entry number {i} " + "y" * (i % 50) + "\n" for i in range(20000)))
    for n in (1, 10, 333):
        out = await run_action("file.tail", {"path": str(f), "lines": n})
        assert out.ok, out.message
        expected = _sh("tail", "-n", str(n), str(f))
        assert out.value["lines"] == expected.splitlines()
    assert out.value["end_offset"] == f.stat().st_size


async def test_tail_without_trailing_newline_and_short_file(tmp_path):
    f = tmp_path / "short"
    f.write_text("a\nb\nc")
    out = await run_action("file.tail", {"path": str(f), "lines": 2})
    assert out.value["lines"] == ["b", "c"]
    out = await run_action("file.tail", {"path": str(f), "lines": 10})
    assert out.value["lines"] == ["a", "b", "c"] and not out.value["truncated"]


async def test_tail_byte_cap(tmp_path):
    f = tmp_path / "cap"
    f.write_text("z" * 5000 + "\nlast\n")
    out = await run_action("file.tail", {"path": str(f), "lines": 5, "max_bytes": 100})
    assert out.ok and out.value["truncated"] is True and out.value["lines"][-1] == "last"


async def test_tail_errors(tmp_path):
    assert (await run_action("file.tail", {"path": str(tmp_path / "none")})).code == "A017"
    assert (await run_action("file.tail", {"path": str(tmp_path)})).code == "A002"
    assert (await run_action("file.tail", {"path": "/x", "bogus": 1})).code == "A002"
