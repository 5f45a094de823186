from __future__ import annotations

from agent_core.testing import run_action


async def test_deb_verify_detects_changes(deb_root):
    out = await run_action("deb.verify", {"name": "starling-demo", "root": str(deb_root)})
    assert out.ok, out.message
    assert out.value == {"ok": True, "changed": [], "changed_non_config": 0}
    (deb_root / "usr/share/stdemo/data.txt").write_text("tampered\n")
    (deb_root / "etc/stdemo/demo.conf").write_text("key=edited\n")
    out = await run_action("deb.verify", {"root": str(deb_root)})
    assert out.ok and out.value["ok"] is False
    changed = {c["path"]: c for c in out.value["changed"]}
    data = changed["/usr/share/stdemo/data.txt"]
    assert data["problem"] == "checksum" and not data["conffile"] and "5" in data["flags"]
    assert changed["/etc/stdemo/demo.conf"]["conffile"] is True
    assert out.value["changed_non_config"] == 1


async def test_deb_verify_real_package_and_errors():
    out = await run_action("deb.verify", {"name": "bash"})
    assert out.ok and isinstance(out.value["ok"], bool)
    assert (await run_action("deb.verify", {"name": "starling-no-such-package"})).code == "A017"
    assert (await run_action("deb.verify", {"name": "UPPER"})).code == "A002"
