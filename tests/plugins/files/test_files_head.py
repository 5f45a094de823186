"""file.head: first lines, more-flag, byte cap."""

from __future__ import annotations

import subprocess

from agent_core.testing import run_action


def _sh(*argv: str, check: bool = True) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check).stdout


async def test_head_matches_coreutils(tmp_path):
    f = tmp_path / "lines"
    f.write_text("".join(f"line {i}\n" for i in range(100)))
    out = await run_action("file.head", {"path": str(f), "lines": 7})
    assert out.ok, out.message
    expected = _sh("head", "-n", "7", str(f))
    assert out.value["lines"] == expected.splitlines()
    assert out.value["more"] is True and out.value["truncated"] is False
    out = await run_action("file.head", {"path": str(f), "lines": 500})
    assert len(out.value["lines"]) == 100 and out.value["more"] is False


async def test_head_byte_cap_on_giant_line(tmp_path):
    f = tmp_path / "giant"
    f.write_bytes(b"x" * 100_000)
    out = await run_action("file.head", {"path": str(f), "lines": 3, "max_bytes": 1000})
    assert out.ok and out.value["lines"] == [] and out.value["truncated"] is True


async def test_head_errors(tmp_path):
    assert (await run_action("file.head", {"path": str(tmp_path / "nope")})).code == "A017"
    assert (await run_action("file.head", {"path": str(tmp_path)})).code == "A002"
    assert (await run_action("file.head", {"path": "/etc/hostname", "lines": -1})).code == "A002"
