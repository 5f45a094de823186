"""pkg.install / pkg.remove / pkg.upgrade / pkg.updates: simulations against the host's
apt lists, one real install -> upgrade -> purge of the locally built starling-demo
packages (purged in teardown), and the rpm backend's dnf transcripts and missing-tool
answer. The rpm backend's real run through dnf is test_pkg_pkg_dnf.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
import trio

from agent_core.testing import needs, run_action
from plugins.packages import _rpm, pkg

HAS_APT = shutil.which("apt-get") is not None and os.path.exists("/var/lib/dpkg/status")
apt_host = pytest.mark.skipif(
    not HAS_APT, reason="apt-get/dpkg absent on this host: the real path is not exercised here"
)


def _status(name: str) -> str:
    res = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev}", name], capture_output=True, text=True
    )
    return res.stdout.strip()


def _version(name: str) -> str:
    res = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True
    )
    return res.stdout.strip()


def _candidate(name: str) -> str:
    res = subprocess.run(["apt-cache", "policy", name], capture_output=True, text=True)
    for line in res.stdout.splitlines():
        if line.strip().startswith("Candidate:"):
            return line.split(":", 1)[1].strip()
    return ""


@pytest.fixture
def installable() -> str:
    """A package apt can install here but that is not installed."""
    for name in ("hello", "sl", "cowsay", "figlet"):
        if _candidate(name) not in ("", "(none)") and _status(name) != "ii":
            return name
    pytest.skip("no uninstalled package in the apt lists (apt-get update never ran)")


@apt_host
async def test_install_dry_run(installable):
    out = await run_action("pkg.install", {"packages": [installable], "dry_run": True})
    assert out.ok, out.message
    v = out.value
    mine = [c for c in v["changes"] if c["package"] == installable]
    assert mine == [
        {**mine[0], "action": "install", "version": _candidate(installable), "old_version": ""}
    ]
    assert (v["backend"], v["manager"], v["dry_run"]) == ("dpkg", "apt-get", True)
    assert v["installed"] >= 1 and "newly installed" in v["log"] and not v["nothing_to_do"]
    assert _status(installable) != "ii"
    pinned = f"{installable}={_candidate(installable)}"
    assert (await run_action("pkg.install", {"packages": [pinned], "dry_run": True})).ok
    out = await run_action(
        "pkg.install", {"packages": [f"{installable}=0.0-no-such"], "dry_run": True}
    )
    assert out.code == "A017"


@apt_host
async def test_remove_dry_run_changes_nothing():
    victim = next((n for n in ("rpm", "iputils-ping", "nftables") if _status(n) == "ii"), None)
    if victim is None:
        pytest.skip("none of rpm, iputils-ping, nftables installed to simulate a removal")
    out = await run_action("pkg.remove", {"packages": [victim], "dry_run": True, "purge": True})
    assert out.ok, out.message
    assert any(c["package"] == victim and c["action"] == "purge" for c in out.value["changes"])
    assert out.value["removed"] >= 1 and _status(victim) == "ii"


def _apt_list_upgradable() -> set[str]:
    res = subprocess.run(["apt", "list", "--upgradable"], capture_output=True, text=True)
    return {
        ln.split("/")[0] for ln in res.stdout.splitlines() if "/" in ln and "upgradable from" in ln
    }


@apt_host
async def test_updates_and_upgrade_dry_run_match_apt():
    out = await run_action("pkg.updates", {})
    assert out.ok, out.message
    v = out.value
    mine = {u["name"] for u in v["updates"]}
    # apt list shows every newer candidate; apt-get upgrade holds some back.
    assert mine | set(v["held_back"]) == _apt_list_upgradable()
    assert v["count"] == len(v["updates"]) and v["security"] == sum(
        u["security"] for u in v["updates"]
    )
    for u in v["updates"]:
        assert u["current"] == _version(u["name"]) != u["candidate"]
        assert u["security"] == ("security" in u["origin"].lower())
    assert v["lists_age_seconds"] is None or v["lists_age_seconds"] >= 0
    sec = await run_action("pkg.updates", {"security_only": True})
    assert (
        sec.ok
        and all(u["security"] for u in sec.value["updates"])
        and sec.value["count"] == v["security"]
    )

    out = await run_action("pkg.upgrade", {"dry_run": True})
    assert out.ok, out.message
    upgraded = {c["package"] for c in out.value["changes"] if c["action"] == "upgrade"}
    assert upgraded == mine and out.value["upgraded"] == len(mine)
    assert out.value["nothing_to_do"] == (not mine)


@apt_host
async def test_bad_specs_and_unknown_packages():
    out = await run_action(
        "pkg.install", {"packages": ["starling-no-such-package"], "dry_run": True}
    )
    assert out.code == "A017" and "starling-no-such-package" in out.message
    for params in (
        {"packages": []},
        {"packages": ["-o=APT::Get::Foo"]},
        {"packages": ["bash=bad version"]},
        {"packages": ["/tmp/not-a-package.txt"]},
        {"packages": "bash"},
        {"packages": ["bash"], "backend": "pacman"},
    ):
        assert (await run_action("pkg.install", {**params, "dry_run": True})).code == "A002", params
    assert (
        await run_action("pkg.remove", {"packages": ["bash=5"], "dry_run": True})
    ).code == "A002"
    assert (
        await run_action("pkg.install", {"packages": ["/no/such/x.deb"], "dry_run": True})
    ).code == "A017"
    assert (
        await run_action("pkg.upgrade", {"packages": ["x"] * 501, "dry_run": True})
    ).code == "A002"


def _exists(path: str) -> bool:
    return os.path.exists(path)


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def _purge_demo() -> None:
    if _status("starling-demo")[1:2] in ("i", "c", "U", "F", "H"):
        subprocess.run(["dpkg", "--purge", "starling-demo"], capture_output=True)


async def _retrying_lock(action: str, params: dict):
    """Another test run may hold the dpkg lock for a moment: wait for it, up to a minute."""
    deadline = time.monotonic() + 60
    while True:
        out = await run_action(action, params)
        if out.code != "A014" or "lock" not in out.message or time.monotonic() > deadline:
            return out
        await trio.sleep(1)


@pytest.fixture
def demo_debs(deb_file, deb_file_newer):
    if _status("starling-demo") == "ii":
        pytest.fail("starling-demo is already installed on this host; purge it first")
    yield str(deb_file), str(deb_file_newer)
    _purge_demo()


@apt_host
async def test_real_install_upgrade_and_purge_of_local_debs(demo_debs):
    old, new = demo_debs
    out = await _retrying_lock("pkg.install", {"packages": [old]})
    assert out.ok, out.message
    change = next(c for c in out.value["changes"] if c["package"] == "starling-demo")
    assert (change["action"], change["version"]) == ("install", "1.2-3")
    assert out.value["dry_run"] is False and _status("starling-demo") == "ii"
    assert _read("/usr/share/stdemo/data.txt") == "data 1.2-3\n"

    # state.pkg.installed sees it through the same backend
    out = await run_action("state.pkg.installed", {"name": "starling-demo", "version": "1.2-3"})
    assert out.ok and out.value["changed"] is False

    out = await _retrying_lock("pkg.upgrade", {"packages": [new]})
    assert out.ok, out.message
    change = next(c for c in out.value["changes"] if c["package"] == "starling-demo")
    assert (change["action"], change["version"], change["old_version"]) == (
        "upgrade",
        "1.3-1",
        "1.2-3",
    )
    assert (
        _version("starling-demo") == "1.3-1"
        and _read("/usr/share/stdemo/data.txt") == "data 1.3-1\n"
    )

    out = await _retrying_lock("pkg.remove", {"packages": ["starling-demo"], "purge": True})
    assert out.ok, out.message
    assert [c["action"] for c in out.value["changes"] if c["package"] == "starling-demo"] == [
        "remove"
    ]
    assert out.value["removed"] == 1 and _status("starling-demo") in ("", "un", "pn")
    assert not _exists("/usr/share/stdemo/data.txt") and not _exists("/etc/stdemo/demo.conf")


# -- rpm backend: dnf/yum ------------------------------------------------------------

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


def test_parse_dnf_output():
    changes = _rpm.parse_transaction(DNF_TRANSCRIPT)
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
    rows = _rpm.parse_check_update(CHECK_UPDATE)
    assert [(u.name, u.arch, u.candidate, u.origin) for u in rows] == [
        ("kernel", "x86_64", "5.14.0-362.18.1.el9_3", "baseos"),
        ("openssl", "x86_64", "1:3.0.7-25.el9_3", "baseos"),
        ("python3-requests", "noarch", "2.25.1-8.el9", "appstream"),
    ]
    assert _rpm.parse_security(UPDATEINFO) == {"openssl"}
    # The shape dpkg's backend answers: the replaced version in old_version, read from rpm
    # before the transaction; a removal's version there too.
    installed = {("openssl", "x86_64"): "1:3.0.7-25.el9_3", ("old-thing", "noarch"): "0.1-1.el9"}
    changes = _rpm.with_old_versions(changes, installed)
    assert [(c.action, c.package, c.version, c.old_version) for c in changes] == [
        ("install", "nginx", "1:1.20.1-14.el9_2.1", ""),
        ("upgrade", "openssl", "1:3.0.7-27.el9", "1:3.0.7-25.el9_3"),
        ("install", "nginx-filesystem-with-a-very-long-name", "1:1.20.1-14.el9_2.1", ""),
        ("remove", "old-thing", "", "0.1-1.el9"),
    ]


# yum 3 (EL 7) says it differently; these lines are from yum 3 runs (Debian has no yum).
YUM3_LOCKED = """\
Loaded plugins: fastestmirror, langpacks
Existing lock /var/run/yum.pid: another copy is running as pid 3233.
"""
YUM3_UPGRADE_NOT_INSTALLED = """\
Package(s) gtk2 available, but not installed.
No Match for argument: libX11
Package(s) libX11 available, but not installed.
No Packages marked for Update
"""


def test_yum3_lines():
    assert _rpm.last_error(
        "x\nError: \n Problem: conflicting requests\n  - nothing provides a\nz"
    ) == ("Error: Problem: conflicting requests - nothing provides a")
    assert _rpm._LOCKED.search(YUM3_LOCKED).group(2) == "3233"
    assert _rpm._LOCKED.search("RPMDB already locked by 42").group(1) == "42"
    text = YUM3_UPGRADE_NOT_INSTALLED
    assert {a or b for a, b in _rpm._MISSING.findall(text)} == {"libX11"}
    assert set(_rpm._NOT_INSTALLED.findall(text)) == {"gtk2", "libX11"}
    assert _rpm._NOTHING.search(text)


def test_rpm_specs():
    be = _rpm.Rpm()
    assert be.spec("nginx") == "nginx" and be.spec("nginx=1.20.1-14.el9") == "nginx-1.20.1-14.el9"
    for bad in ("--nogpgcheck", "a b", "nginx=1 2", "/tmp/x.deb"):
        with pytest.raises(Exception) as info:
            be.spec(bad)
        assert getattr(info.value, "code", "") == "A002", bad


@needs("rpm")
async def test_rpm_transactions_without_dnf(hidden_tools):
    """The rpm backend needs dnf or yum for transactions: A003 where neither is installed."""
    run = hidden_tools("dnf", "yum")
    for action, params in (
        ("pkg.install", {"packages": ["bash"], "dry_run": True}),
        ("pkg.remove", {"packages": ["bash"], "dry_run": True}),
        ("pkg.upgrade", {"dry_run": True}),
        ("pkg.updates", {"cache_only": True}),
    ):
        out = await run(action, {**params, "backend": "rpm"})
        assert out.code == "A003" and "neither dnf nor yum" in out.message, (action, out.message)


def test_change_params_refused_before_running(bad_params):
    bad_params(pkg.install, {"packages": "bash"})
    bad_params(pkg.remove, {"packages": ["bash"], "force": True})
    bad_params(pkg.upgrade, {"full": "yes"})
    bad_params(pkg.updates, {"security": True})
