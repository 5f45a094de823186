"""sec.world_writable: agrees with find -perm -0002 on a temp tree."""

from __future__ import annotations

import os
import subprocess

from agent_core.testing import run_action


def _find(*args: str) -> list[str]:
    out = subprocess.run(["find", *args], capture_output=True, text=True).stdout
    return sorted(out.split())


async def test_world_writable(tmp_path):
    root = tmp_path / "r"
    (root / "open").mkdir(parents=True)
    (root / "sticky").mkdir()
    (root / "safe").mkdir()
    os.chmod(root / "open", 0o777)
    os.chmod(root / "sticky", 0o1777)
    for name, mode in [("open/anyone.sh", 0o666), ("safe/ok.conf", 0o644), ("safe/group.conf", 0o664)]:
        (root / name).write_text("x")
        os.chmod(root / name, mode)
    os.symlink("safe/ok.conf", root / "link")
    out = await run_action("sec.world_writable", {"root": str(root)})
    assert out.ok, out.message
    v = out.value
    assert [f["path"] for f in v["files"]] == _find(str(root), "-type", "f", "-perm", "-0002")
    assert [d["path"] for d in v["dirs_without_sticky"]] == _find(str(root), "-mindepth", "1", "-type", "d", "-perm", "-0002", "!", "-perm", "-1000")
    assert v["sticky_dirs"] == 1 and v["files"][0]["mode"] == "0666"
    out = await run_action("sec.world_writable", {"root": str(root), "max_results": 1})
    assert out.value["truncated"] is True


async def test_world_writable_bad_params(tmp_path):
    (tmp_path / "f").write_text("")
    assert (await run_action("sec.world_writable", {"root": str(tmp_path / "f")})).code == "A002"
    assert (await run_action("sec.world_writable", {"root": "tmp"})).code == "A002"
