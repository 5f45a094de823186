"""kernel.sysctl.diff on config files written for the test, against this host's running values."""

from __future__ import annotations

import pytest

from agent_core.testing import run_action
from plugins.kernel import sysctl_diff as mod


def _value(key: str) -> str:
    with open("/proc/sys/" + key.replace(".", "/")) as fh:
        return " ".join(fh.read().split())


async def test_drift_missing_and_overrides(tmp_path):
    ostype = _value("kernel.ostype")
    swappiness = _value("vm.swappiness")
    wrong = str((int(swappiness) + 7) % 100)
    a = tmp_path / "10-a.conf"
    a.write_text(f"# comment\nkernel.ostype = {ostype}\nvm.swappiness = {swappiness}\n; other comment\n")
    b = tmp_path / "20-b.conf"
    b.write_text(f"vm.swappiness={wrong}\nkernel.no_such_key_zz = 1\n-kernel.also_missing_zz = 2\nnet.ipv4.conf.*.rp_filter = 1\ngarbage line\n")
    out = await run_action("kernel.sysctl.diff", {"files": [str(a), str(b)]})
    assert out.ok, out.message
    v = out.value
    assert v["checked"] == 4 and v["in_sync"] == 1
    assert v["drift"] == [{"key": "vm.swappiness", "configured": wrong, "running": swappiness, "file": str(b), "line": 1}]
    assert [m["key"] for m in v["missing"]] == ["kernel.no_such_key_zz", "kernel.also_missing_zz"]
    assert v["missing"][1]["optional"] is True
    assert v["overridden"] == [{"key": "vm.swappiness", "value": swappiness, "file": str(a), "line": 3, "by": f"{b}:1"}]
    assert len(v["skipped"]) == 2


async def test_system_search_order(tmp_path, monkeypatch):
    current = _value("vm.swappiness")
    v1, v2, v3, v4 = [str(x) for x in range(101) if str(x) != current][:4]
    etc, usr = tmp_path / "etc", tmp_path / "usr"
    etc.mkdir()
    usr.mkdir()
    (usr / "50-x.conf").write_text(f"vm.swappiness = {v1}\n")
    (usr / "90-y.conf").write_text(f"vm.swappiness = {v2}\n")
    (etc / "50-x.conf").write_text(f"vm.swappiness = {v3}\n")  # masks the /usr file of the same name
    (tmp_path / "sysctl.conf").write_text(f"vm.swappiness = {v4}\n")  # read last
    monkeypatch.setattr(mod, "SEARCH_DIRS", (str(etc), str(usr)))
    monkeypatch.setattr(mod, "SYSCTL_CONF", str(tmp_path / "sysctl.conf"))
    assert mod.config_files() == [str(etc / "50-x.conf"), str(usr / "90-y.conf"), str(tmp_path / "sysctl.conf")]
    out = await run_action("kernel.sysctl.diff")
    assert out.ok
    (drift,) = out.value["drift"]
    assert (drift["configured"], drift["file"]) == (v4, str(tmp_path / "sysctl.conf"))
    assert [o["value"] for o in out.value["overridden"]] == [v3, v2]


async def test_real_configuration_runs():
    out = await run_action("kernel.sysctl.diff")
    assert out.ok, out.message
    assert out.value["checked"] == out.value["in_sync"] + len(out.value["drift"]) + len(out.value["missing"]) + len(out.value["unreadable"])


@pytest.mark.parametrize(("params", "code"), [({"files": ["relative.conf"]}, "A002"), ({"files": ["/no/such.conf"]}, "A017"), ({"dirs": []}, "A002")])
async def test_diff_errors(params, code):
    assert (await run_action("kernel.sysctl.diff", params)).code == code
