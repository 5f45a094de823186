from __future__ import annotations

import shutil

import pytest

from agent_core.testing import run_action
from plugins.packages import yum

HAS_DNF = shutil.which("dnf") is not None or shutil.which("yum") is not None

# What dnf 4 prints for `dnf --assumeno install nginx` (a dry run); the long
# package name wraps the way dnf wraps it on an 80-column terminal.
DNF_TRANSCRIPT = """\
Last metadata expiration check: 0:12:03 ago on Tue 05 Mar 2024 09:00:00 AM UTC.
Dependencies resolved.
================================================================================
 Package                    Arch     Version                Repository     Size
================================================================================
Installing:
 nginx                      x86_64   1:1.20.1-14.el9_2.1    appstream      38 k
Upgrading:
 openssl                    x86_64   1:3.0.7-27.el9         baseos        1.2 M
Installing dependencies:
 nginx-filesystem-with-a-very-long-name
                            noarch   1:1.20.1-14.el9_2.1    appstream      10 k
Removing dependent packages:
 old-thing                  noarch   0.1-1.el9              @System       5 k

Transaction Summary
================================================================================
Install  2 Packages
Upgrade  1 Package

Total download size: 1.2 M
Operation aborted.
"""


def test_parse_dnf_transaction():
    changes = yum.parse_transaction(DNF_TRANSCRIPT)
    assert [(c.action, c.package, c.arch, c.version, c.origin) for c in changes] == [
        ("install", "nginx", "x86_64", "1:1.20.1-14.el9_2.1", "appstream"),
        ("upgrade", "openssl", "x86_64", "1:3.0.7-27.el9", "baseos"),
        (
            "install",
            "nginx-filesystem-with-a-very-long-name",
            "noarch",
            "1:1.20.1-14.el9_2.1",
            "appstream",
        ),
        ("remove", "old-thing", "noarch", "0.1-1.el9", "@System"),
    ]


async def test_yum_on_this_host():
    if not HAS_DNF:
        for name in ("yum.install", "yum.remove"):
            out = await run_action(name, {"packages": ["bash"], "dry_run": True})
            assert out.code == "A003" and "dnf" in out.message
        pytest.skip("dnf or yum absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    out = await run_action("yum.install", {"packages": ["bash"], "dry_run": True})
    assert out.ok, out.message
    assert out.value["dry_run"] and (out.value["nothing_to_do"] or out.value["changes"])
    out = await run_action(
        "yum.install", {"packages": ["starling-no-such-package"], "dry_run": True}
    )
    assert out.code == "A017"


async def test_yum_bad_params(bad_params):
    bad_params(yum.install, {"packages": "bash"})
    bad_params(yum.remove, {"packages": ["bash"], "force": True})
    if not HAS_DNF:
        pytest.skip("dnf or yum absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    expected = "A002"
    assert (
        await run_action("yum.install", {"packages": ["--nogpgcheck"], "dry_run": True})
    ).code == expected
    assert (await run_action("yum.remove", {"packages": [], "dry_run": True})).code == expected
