from __future__ import annotations

import shutil
import subprocess

import pytest

from agent_core.testing import run_action


def _dpkg_owner(path: str) -> str:
    res = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
    return res.stdout.split(":")[0] if res.returncode == 0 else ""


async def test_owner_of_shell_with_usr_merge():
    if shutil.which("dpkg") is None:
        pytest.skip("dpkg absent on this host: the real path is not exercised here")
    expected = _dpkg_owner("/bin/bash") or _dpkg_owner("/usr/bin/bash")
    for path in ("/bin/bash", "/usr/bin/bash"):
        out = await run_action("pkg.owner", {"path": path})
        assert out.ok, out.message
        assert out.value["owned"] and [o["package"] for o in out.value["owners"]] == [expected]
        assert out.value["owners"][0]["manager"] == "dpkg"


async def test_owner_in_test_roots(deb_root, tmp_path):
    out = await run_action(
        "pkg.owner", {"path": "/usr/share/stdemo/data.txt", "root": str(deb_root)}
    )
    assert out.ok, out.message
    assert out.value["owners"] == [
        {
            "manager": "dpkg",
            "package": "starling-demo",
            "recorded_path": "/usr/share/stdemo/data.txt",
        }
    ]
    stray = tmp_path / "stray.txt"
    stray.write_text("x")
    out = await run_action("pkg.owner", {"path": str(stray)})
    assert out.ok and out.value == {"path": str(stray), "owned": False, "owners": []}


async def test_owner_rpm_root(rpm_root):
    out = await run_action("pkg.owner", {"path": "/etc/stdemo/demo.conf", "root": str(rpm_root)})
    assert out.ok, out.message
    assert {
        "manager": "rpm",
        "package": "starling-demo",
        "recorded_path": "/etc/stdemo/demo.conf",
    } in out.value["owners"]


async def test_owner_bad_params():
    assert (await run_action("pkg.owner", {"path": "bin/bash"})).code == "A002"
    assert (await run_action("pkg.owner", {})).code == "A002"
