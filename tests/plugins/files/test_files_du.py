"""file.du: totals agree with du(1); breakdown by depth; hard links once."""

from __future__ import annotations

import os
import subprocess

from agent_core.testing import run_action


def _du(*args) -> int:
    return int(subprocess.run(["du", "-s", *args], capture_output=True, text=True, check=True).stdout.split()[0])


async def test_du_matches_coreutils(tmp_path):
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "f").write_bytes(os.urandom(300_000))
    (tmp_path / "small").mkdir()
    (tmp_path / "small" / "g").write_bytes(b"x" * 10)
    os.link(tmp_path / "big" / "f", tmp_path / "small" / "hard")
    out = await run_action("file.du", {"path": str(tmp_path)})
    assert out.ok, out.message
    assert out.value["bytes"] == _du("-B1", str(tmp_path))
    out = await run_action("file.du", {"path": str(tmp_path), "apparent": True})
    assert out.value["bytes"] == _du("-b", str(tmp_path))
    assert out.value["files"] == 2 and out.value["dirs"] == 3
    largest = out.value["largest"]
    assert largest[0]["path"] == str(tmp_path / "big") and largest[0]["bytes"] == _du("-b", str(tmp_path / "big"))
    out = await run_action("file.du", {"path": str(tmp_path), "depth": 2, "top": 1})
    assert len(out.value["largest"]) == 1
    out = await run_action("file.du", {"path": str(tmp_path / "big" / "f")})
    assert out.value["files"] == 1 and out.value["bytes"] == os.stat(tmp_path / "big" / "f").st_blocks * 512


async def test_du_errors(tmp_path):
    assert (await run_action("file.du", {"path": str(tmp_path / "none")})).code == "A017"
    assert (await run_action("file.du", {"path": str(tmp_path), "depth": 99})).code == "A002"
