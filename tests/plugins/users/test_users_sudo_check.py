from __future__ import annotations

import os
import shutil

import pytest

from agent_core.testing import run_action

HAS_VISUDO = shutil.which("visudo") is not None
GOOD = (
    "Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n%admins ALL=(ALL) NOPASSWD: /usr/bin/systemctl\n"
)
BAD = "root ALL=(ALL:ALL) ALL\ndeploy ALL=(ALL NOPASSWD: ALL\n"


def _write(path, text: str, mode: int) -> None:
    path.write_text(text)
    os.chmod(path, mode)


async def test_check_content_before_deploying():
    if not HAS_VISUDO:
        assert (await run_action("user.sudo.check", {"content": GOOD})).code == "A003"
        pytest.skip("visudo absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    out = await run_action("user.sudo.check", {"content": GOOD})
    assert out.ok, out.message
    assert out.value["ok"] is True and out.value["errors"] == []
    out = await run_action("user.sudo.check", {"content": BAD})
    assert out.ok and out.value["ok"] is False
    (err,) = out.value["errors"]
    assert err["file"] == "<content>" and err["line"] == 2 and "syntax error" in err["message"]


async def test_check_file_and_permissions(tmp_path):
    if not HAS_VISUDO:
        pytest.skip("visudo absent on this host: the real path is not exercised here")
    path = tmp_path / "90-deploy"
    _write(path, GOOD, 0o666)
    out = await run_action("user.sudo.check", {"path": str(path)})
    assert out.ok and out.value["ok"] is True
    assert out.value["files"] == [{"path": str(path), "ok": True}]
    assert any("writable by group or others" in w for w in out.value["warnings"])


async def test_check_installed_configuration():
    if not HAS_VISUDO:
        pytest.skip("visudo absent on this host: the real path is not exercised here")
    out = await run_action("user.sudo.check", {})
    assert out.ok, out.message
    assert out.value["files"][0]["path"] == "/etc/sudoers"
    assert out.value["ok"] == all(f["ok"] for f in out.value["files"])


async def test_check_bad_params(tmp_path):
    if not HAS_VISUDO:
        pytest.skip("visudo absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    expected = "A002"
    assert (await run_action("user.sudo.check", {"path": "x", "content": "y"})).code == expected
    assert (await run_action("user.sudo.check", {"path": "etc/sudoers"})).code == expected
    assert (await run_action("user.sudo.check", {"path": str(tmp_path / "none")})).code == (
        "A017"
    )
