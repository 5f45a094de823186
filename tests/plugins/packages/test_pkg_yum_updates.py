from __future__ import annotations

import shutil

import pytest

from agent_core.testing import run_action
from plugins.packages import yum_updates

HAS_DNF = shutil.which("dnf") is not None or shutil.which("yum") is not None

# `dnf -q check-update` and `dnf -q updateinfo list --security` on a RHEL 9 host.
CHECK_UPDATE = """
kernel.x86_64                     5.14.0-362.18.1.el9_3        baseos
openssl.x86_64                    1:3.0.7-25.el9_3             baseos
python3-requests.noarch           2.25.1-8.el9                 appstream
Obsoleting Packages
grub2-tools.x86_64                1:2.06-70.el9_3.2            baseos
"""
UPDATEINFO = """\
RHSA-2024:0310 Important/Sec. openssl-1:3.0.7-25.el9_3.x86_64
RHBA-2024:0001 bugfix         python3-requests-2.25.1-8.el9.noarch
"""


def test_parse_check_update_and_advisories():
    rows = yum_updates.parse_check_update(CHECK_UPDATE)
    assert [(u.package, u.arch, u.version, u.repository) for u in rows] == [
        ("kernel", "x86_64", "5.14.0-362.18.1.el9_3", "baseos"),
        ("openssl", "x86_64", "1:3.0.7-25.el9_3", "baseos"),
        ("python3-requests", "noarch", "2.25.1-8.el9", "appstream"),
    ]
    assert yum_updates.parse_security(UPDATEINFO) == {"openssl"}


async def test_yum_updates_on_this_host():
    out = await run_action("yum.updates", {"cache_only": True})
    if not HAS_DNF:
        assert out.code == "A003" and "dnf" in out.message
        pytest.skip("dnf or yum absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    assert out.ok, out.message
    assert out.value["count"] == len(out.value["updates"])


async def test_yum_updates_bad_params(bad_params):
    bad_params(yum_updates.updates, {"security": "yes"})
    if not HAS_DNF:
        pytest.skip("dnf or yum absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    assert (await run_action("yum.updates", {"everything": 1})).code == (
        "A002"
    )
