"""sec.apparmor: the real host's state, and a securityfs listing in the kernel's format."""

from __future__ import annotations

from agent_core.testing import run_action


def _real_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as fh:
            return fh.read().strip() == "Y"
    except OSError:
        return False


async def test_apparmor_on_this_host():
    out = await run_action("sec.apparmor")
    assert out.ok, out.message
    assert out.value["enabled"] is _real_enabled()
    if not out.value["enabled"]:
        assert out.value["confined"] == []


async def test_apparmor_profiles_by_mode(tmp_path):
    fs = tmp_path / "apparmor"
    fs.mkdir()
    (fs / "profiles").write_text(
        "/usr/sbin/cupsd (enforce)\n"
        "/usr/lib/cups/backend/cups-pdf (enforce)\n"
        "snap.lxd.daemon (complain)\n"
        "docker default (enforce)\n"
        "unconfined-app (unconfined)\n"
    )
    param = tmp_path / "enabled"
    param.write_text("Y\n")
    out = await run_action("sec.apparmor", {"securityfs": str(fs), "module_param": str(param), "processes": False})
    assert out.ok, out.message
    v = out.value
    assert v["enabled"] is True and v["profiles_loaded"] == 5
    assert v["modes"] == {"enforce": 3, "complain": 1, "unconfined": 1}
    assert {"name": "docker default", "mode": "enforce"} in v["profiles"]
    param.write_text("N\n")
    out = await run_action("sec.apparmor", {"securityfs": str(fs), "module_param": str(param)})
    assert out.value["enabled"] is False and out.value["confined"] == []


async def test_apparmor_bad_params():
    assert (await run_action("sec.apparmor", {"securityfs": "relative"})).code == "A002"
    assert (await run_action("sec.apparmor", {"extra": 1})).code == "A002"
