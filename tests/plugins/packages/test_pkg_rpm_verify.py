from __future__ import annotations

import shutil

import pytest

from agent_core.testing import run_action


async def test_rpm_verify_detects_changes(rpm_root):
    out = await run_action("rpm.verify", {"name": "starling-demo", "root": str(rpm_root)})
    assert out.ok, out.message
    assert out.value == {"ok": True, "changes": []}
    (rpm_root / "usr/share/stdemo/data.txt").write_text("tampered and longer\n")
    (rpm_root / "etc/stdemo/demo.conf").unlink()
    out = await run_action("rpm.verify", {"root": str(rpm_root)})
    assert out.ok and out.value["ok"] is False
    changes = {c["path"]: c for c in out.value["changes"]}
    data = changes["/usr/share/stdemo/data.txt"]
    assert (
        data["missing"] is False
        and {"size", "checksum"} <= set(data["changed"])
        and data["kind"] == ""
    )
    conf = changes["/etc/stdemo/demo.conf"]
    assert conf["missing"] is True and conf["kind"] == "config"


async def test_rpm_verify_errors(rpm_root):
    assert (await run_action("rpm.verify", {"name": "bash", "root": str(rpm_root)})).code == "A017"
    if not (shutil.which('rpm')):
        pytest.skip("rpm absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    expected = "A002"
    assert (await run_action("rpm.verify", {"name": "a b"})).code == expected
