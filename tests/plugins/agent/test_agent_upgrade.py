"""agent.upgrade here: what it refuses (bad versions, unpackaged agents). The real
upgrade, with installed packages moving forward and back and a failed upgrade rolled
back, is tests/deb_packages/test_self_upgrade.py.

# covers: plugins.agent.upgrade
"""

from __future__ import annotations

import msgspec
import pytest

from agent_core.testing import run_action
from plugins.agent import upgrade


@pytest.mark.parametrize("version", ["", "1.0; reboot", "$(id)", "1.0 2.0", "-1", "1" * 80, "1.0\n2"])
def test_bad_versions_are_refused_by_the_params_type(version):
    # The params type is checked before the action runs (A002 on a packaged agent), so
    # nothing but a package version ever reaches the helper's command line.
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"version": version}, upgrade.UpgradeParams)


async def test_an_unpackaged_agent_answers_a003():
    # This checkout is not /opt/starling/agent: nothing to upgrade through a package manager.
    out = await run_action("agent.upgrade", {"version": "0.1.1-1.py311"})
    assert not out.ok and out.code == "A003" and "not a packaged agent" in out.message


def test_version_pattern_matches_package_versions():
    ok = ["0.1.1-1.py311", "2.0.0", "1.2~rc1-3", "1.0+deb12u1-1"]
    for v in ok:
        msgspec.convert({"version": v}, upgrade.UpgradeParams)
    assert "rm" not in upgrade.HELPER.split("rm -f")[0]  # the helper removes only its marker files
