"""exec.which: agrees with shutil.which and `which -a`; custom PATH; scripts."""

from __future__ import annotations

import os
import shutil
import subprocess

from agent_core.testing import run_action

WHICH = shutil.which("which") or "/usr/bin/which"


def _which_all(name: str, path: str) -> list[str]:
    out = subprocess.run([WHICH, "-a", name], capture_output=True, text=True, env={"PATH": path}).stdout
    return out.split()


def _real(name: str) -> tuple[str, str, int]:
    first = shutil.which(name) or ""
    real = os.path.realpath(first)
    return first, real, os.path.getsize(real)


async def test_which_system_programs():
    out = await run_action("exec.which", {"names": ["sh", "ls", "definitely-not-a-program-xyz"]})
    assert out.ok, out.message
    sh, ls, missing = out.value["programs"]
    assert (sh["path"], sh["realpath"], sh["size"]) == _real("sh")
    assert ls["kind"] == "binary" and (ls["path"], ls["realpath"], ls["size"]) == _real("ls")
    assert sh["all"] == _which_all("sh", os.environ["PATH"])
    assert missing == {"name": "definitely-not-a-program-xyz", "found": False}


async def test_which_custom_path_script_and_shadowing(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for d in (a, b):
        tool = d / "mytool"
        tool.write_text("#!/bin/sh -e\necho hi\n")
        tool.chmod(0o755)
    (b / "noexec").write_text("x")
    path = f"{a}:{b}"
    out = await run_action("exec.which", {"names": ["mytool", "noexec"], "path": path})
    tool, noexec = out.value["programs"]
    assert tool["all"] == _which_all("mytool", path) == [str(a / "mytool"), str(b / "mytool")]
    assert tool["kind"] == "script" and tool["interpreter"] == "/bin/sh -e"
    assert noexec["found"] is False
    out = await run_action("exec.which", {"names": [str(a / "mytool")]})
    assert out.value["programs"][0]["found"] is True


async def test_which_require_and_bad_params():
    out = await run_action("exec.which", {"names": ["sh", "no-such-prog-q"], "require": True})
    assert out.code == "A017" and "no-such-prog-q" in out.message
    assert (await run_action("exec.which", {"names": []})).code == "A002"
    assert (await run_action("exec.which", {"names": "sh"})).code == "A002"
