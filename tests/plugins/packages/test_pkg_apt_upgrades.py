from __future__ import annotations

import shutil
import subprocess

import pytest

from agent_core.testing import run_action


def _apt_list_upgradable() -> set[str]:
    res = subprocess.run(["apt", "list", "--upgradable"], capture_output=True, text=True)
    return {
        line.split("/")[0]
        for line in res.stdout.splitlines()
        if "/" in line and "upgradable from" in line
    }


async def test_upgrades_match_apt_list():
    out = await run_action("apt.upgrades", {})
    if shutil.which("apt-get") is None:
        assert out.code == "A003"
        pytest.skip("apt-get absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    assert out.ok, out.message
    v = out.value
    mine = {u["package"] for u in v["upgrades"]}
    # apt list shows every newer candidate; apt-get upgrade keeps some back.
    assert mine | set(v["kept_back"]) == _apt_list_upgradable()
    assert v["count"] == len(v["upgrades"]) and v["security"] == sum(
        u["security"] for u in v["upgrades"]
    )
    for u in v["upgrades"]:
        assert u["current"] and u["candidate"] and u["current"] != u["candidate"]
        assert u["security"] == ("security" in u["origin"].lower())
    # (security_only is the same simulation filtered; not re-run here: apt is slow.)


async def test_upgrades_bad_params():
    assert (await run_action("apt.upgrades", {"dist_upgrade": "yes"})).code == "A002"
    assert (await run_action("apt.upgrades", {"refresh": True})).code == "A002"
