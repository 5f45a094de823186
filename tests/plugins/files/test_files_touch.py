"""file.touch: create, set explicit times, no-create on a missing file."""

from __future__ import annotations

import os

from agent_core.testing import run_action


async def test_touch(tmp_path):
    f = tmp_path / "stamp"
    out = await run_action("file.touch", {"path": str(f)})
    assert out.ok and out.value["created"] is True and f.exists()
    out = await run_action("file.touch", {"path": str(f), "mtime": 1_000_000_000.5, "atime": 1_100_000_000})
    assert out.ok and out.value["created"] is False
    s = os.stat(f)
    assert s.st_mtime == 1_000_000_000.5 and s.st_atime == 1_100_000_000
    assert out.value["mtime"] == s.st_mtime
    out = await run_action("file.touch", {"path": str(tmp_path / "nope"), "create": False})
    assert out.code == "A017" and not (tmp_path / "nope").exists()
    assert (await run_action("file.touch", {"path": str(f), "mtime": "yesterday"})).code == "A002"
