from __future__ import annotations

import os

from agent_core.testing import run_action


def _bash_list() -> list[str]:
    with open("/var/lib/dpkg/info/bash.list") as fh:
        return [ln.strip() for ln in fh if ln.strip() and ln.strip() != "/."]


def _no_dirs(paths: list[str]) -> bool:
    return all(not os.path.isdir(f) for f in paths)


async def test_deb_files_of_test_package(deb_root):
    out = await run_action("deb.files", {"name": "starling-demo", "root": str(deb_root)})
    assert out.ok, out.message
    assert out.value["files"] == ["/etc/stdemo/demo.conf", "/usr/share/stdemo/data.txt"]
    assert out.value["conffiles"] == ["/etc/stdemo/demo.conf"] and out.value["missing"] == []
    out = await run_action(
        "deb.files", {"name": "starling-demo", "root": str(deb_root), "include_dirs": True}
    )
    assert "/usr/share/stdemo" in out.value["files"]
    (deb_root / "usr/share/stdemo/data.txt").unlink()
    out = await run_action(
        "deb.files", {"name": "starling-demo", "root": str(deb_root), "check_missing": True}
    )
    assert out.value["missing"] == ["/usr/share/stdemo/data.txt"]


async def test_deb_files_bash_matches_info_list():
    out = await run_action("deb.files", {"name": "bash", "include_dirs": True})
    assert out.ok, out.message
    assert out.value["files"] == _bash_list()
    out = await run_action("deb.files", {"name": "bash"})
    assert _no_dirs(out.value["files"]) and "/etc/bash.bashrc" in out.value["conffiles"]


async def test_deb_files_errors():
    assert (await run_action("deb.files", {"name": "starling-no-such-package"})).code == "A017"
    assert (await run_action("deb.files", {"name": "../x"})).code == "A002"
