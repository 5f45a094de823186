"""sec.suid: agrees with find -perm /6000 on a temp tree and on /usr/bin; package ownership."""

from __future__ import annotations

import os
import subprocess

from agent_core.testing import run_action


def _find(root: str) -> list[str]:
    out = subprocess.run(["find", root, "-xdev", "-type", "f", "-perm", "/6000"], capture_output=True, text=True).stdout
    return sorted(out.split())


def _dpkg_owned(paths: list[str]) -> set[str]:
    """Which of ``paths`` dpkg -S knows (one call for all)."""
    # With merged /usr, dpkg may know /usr/bin/mount as /bin/mount only.
    alias = {p: (p[4:] if p.startswith("/usr/") else "/usr" + p) for p in paths}
    out = subprocess.run(["dpkg", "-S", *paths, *alias.values()], capture_output=True, text=True).stdout
    known = {line.split(": ", 1)[1] for line in out.splitlines() if ": " in line}
    return {p for p in paths if p in known or alias[p] in known}


async def test_suid_temp_tree(tmp_path):
    (tmp_path / "sub").mkdir()
    for name, mode in [("rootshell", 0o4755), ("sgid", 0o2755), ("both", 0o6755), ("plain", 0o755)]:
        f = tmp_path / "sub" / name
        f.write_text("#!/bin/sh\n")
        os.chmod(f, mode)
    os.chmod(tmp_path / "sub", 0o2775)  # a setgid directory is not a finding
    out = await run_action("sec.suid", {"root": str(tmp_path)})
    assert out.ok, out.message
    files = {f["path"]: f for f in out.value["files"]}
    assert sorted(files) == _find(str(tmp_path))
    both = files[str(tmp_path / "sub" / "both")]
    assert both["setuid"] and both["setgid"] and both["mode"] == "6755" and both["owner"] == "root"
    if "packaged" in both:
        assert both["packaged"] is False and out.value["unpackaged"] == 3


async def test_suid_usr_bin_against_find():
    out = await run_action("sec.suid", {"root": "/usr/bin"})
    assert out.ok, out.message
    paths = sorted(f["path"] for f in out.value["files"])
    assert paths == _find("/usr/bin")
    if out.value["files"] and "packaged" in out.value["files"][0]:
        owned = _dpkg_owned(paths)
        assert {f["path"] for f in out.value["files"] if f["packaged"]} == owned


async def test_suid_bad_params(tmp_path):
    assert (await run_action("sec.suid", {"root": "usr"})).code == "A002"
    assert (await run_action("sec.suid", {"root": str(tmp_path / "none")})).code == "A017"
    assert (await run_action("sec.suid", {"max_results": 0})).code == "A002"
