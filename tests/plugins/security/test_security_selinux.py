"""sec.selinux: the real host's state, and a selinuxfs/config pair in the kernel's layout."""

from __future__ import annotations

import os

from agent_core.testing import run_action


def _real_enabled() -> bool:
    return os.path.exists("/sys/fs/selinux/enforce")


async def test_selinux_on_this_host():
    out = await run_action("sec.selinux")
    assert out.ok, out.message
    assert out.value["enabled"] is _real_enabled()
    if not out.value["enabled"]:
        assert out.value["mode"] == "disabled" and out.value["denials_recent"] is None


async def test_selinux_permissive_with_enforcing_config(tmp_path):
    fs = tmp_path / "selinuxfs"
    (fs / "booleans").mkdir(parents=True)
    (fs / "enforce").write_text("0")
    (fs / "policyvers").write_text("33\n")
    (fs / "mls").write_text("1")
    (fs / "deny_unknown").write_text("0")
    (fs / "booleans" / "httpd_can_network_connect").write_text("1 1")
    (fs / "booleans" / "ssh_sysadm_login").write_text("0 0")
    conf = tmp_path / "config"
    conf.write_text("# comment\nSELINUX=enforcing\nSELINUXTYPE=targeted\n")
    audit = tmp_path / "audit.log"
    audit.write_text(
        'type=AVC msg=audit(1.0:1): avc:  denied  { read } for pid=1 comm="httpd"\n'
        "type=SYSCALL msg=audit(1.0:1): arch=c000003e\n"
        'type=AVC msg=audit(2.0:2): avc:  denied  { write } for pid=2 comm="nginx"\n'
    )
    out = await run_action("sec.selinux", {"config": str(conf), "selinuxfs": str(fs), "audit_log": str(audit), "booleans": True})
    assert out.ok, out.message
    v = out.value
    assert v["enabled"] is True and v["mode"] == "permissive" and v["config_mode"] == "enforcing"
    assert v["mismatch"] is True and v["config_policy"] == "targeted"
    assert v["policy_version"] == 33 and v["mls"] is True and v["deny_unknown"] is False
    assert v["denials_recent"] == 2
    assert v["booleans"] == {"httpd_can_network_connect": True, "ssh_sysadm_login": False}
    (fs / "enforce").write_text("1")
    out = await run_action("sec.selinux", {"config": str(conf), "selinuxfs": str(fs), "audit_log": str(audit)})
    assert out.value["mode"] == "enforcing" and out.value["mismatch"] is False and out.value["booleans"] is None


async def test_selinux_bad_params():
    assert (await run_action("sec.selinux", {"config": "selinux/config"})).code == "A002"
    assert (await run_action("sec.selinux", {"booleans": "yes"})).code == "A002"
