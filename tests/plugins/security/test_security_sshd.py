"""sec.sshd: config parsing (Include, first value wins, Match) and findings; A003 without sshd."""

from __future__ import annotations

import os
import shutil

from agent_core.testing import run_action


def _has_sshd() -> bool:
    found = shutil.which("sshd") or shutil.which("sshd", path="/usr/sbin:/usr/local/sbin:/sbin")
    return bool(found) or os.path.exists("/etc/ssh/sshd_config")


async def test_sshd_weak_config(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "10-first.conf").write_text("PasswordAuthentication no\nX11Forwarding yes\n")
    main = tmp_path / "sshd_config"
    main.write_text(
        f"Include {tmp_path}/conf.d/*.conf\n"
        "PermitRootLogin yes\n"
        "PasswordAuthentication yes\n"  # later: loses against the included "no"
        "PermitEmptyPasswords=yes\n"
        "MaxAuthTries 10\n"
        "LoginGraceTime 2m\n"
        "Ciphers aes128-cbc,chacha20-poly1305@openssh.com\n"
        "MACs hmac-md5,hmac-sha2-256-etm@openssh.com\n"
        "Match User backup\n"
        "    PermitRootLogin no\n"
        "    PasswordAuthentication yes\n"
    )
    out = await run_action("sec.sshd", {"config": str(main), "use_sshd": False})
    assert out.ok, out.message
    v = out.value
    s = v["settings"]
    assert s["passwordauthentication"] == "no" and s["x11forwarding"] == "yes" and s["permitrootlogin"] == "yes"
    assert s["permitemptypasswords"] == "yes" and s["strictmodes"] == "yes"  # the last one is a default
    assert v["match_blocks"] == ["User backup"]
    found = {(f["key"], f["severity"]) for f in v["findings"]}
    assert ("permitrootlogin", "high") in found and ("permitemptypasswords", "high") in found
    assert ("x11forwarding", "low") in found and ("maxauthtries", "low") in found and ("logingracetime", "low") in found
    assert ("passwordauthentication", "medium") not in found
    weak = {f["key"]: f["message"] for f in v["findings"]}
    assert "aes128-cbc" in weak["ciphers"] and "chacha20" not in weak["ciphers"] and "hmac-md5" in weak["macs"]
    assert v["counts"]["high"] == 2 and v["findings"][0]["severity"] == "high"


async def test_sshd_hardened_config(tmp_path):
    main = tmp_path / "sshd_config"
    main.write_text(
        "PermitRootLogin no\nPasswordAuthentication no\nMaxAuthTries 3\nLoginGraceTime 30\nAllowGroups ssh-users\n"
    )
    out = await run_action("sec.sshd", {"config": str(main), "use_sshd": False})
    assert out.ok and out.value["findings"] == []


async def test_sshd_on_this_host():
    out = await run_action("sec.sshd")
    if _has_sshd():
        assert out.ok, out.message
    else:
        assert out.code == "A003" and "sshd" in out.message


async def test_sshd_bad_params(tmp_path):
    assert (await run_action("sec.sshd", {"config": "sshd_config"})).code == "A002"
    assert (await run_action("sec.sshd", {"config": str(tmp_path / "none"), "use_sshd": False})).code == "A017"
    assert (await run_action("sec.sshd", {"use_sshd": "no"})).code == "A002"
