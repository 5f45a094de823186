"""apt.install / apt.remove: simulations against the host's lists, and one real
install/purge of the locally built starling-demo package (purged in teardown)."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import trio

from agent_core.testing import run_action

HAS_APT = shutil.which("apt-get") is not None


def _status(name: str) -> str:
    res = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev}", name], capture_output=True, text=True
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


async def test_install_dry_run(installable):
    out = await run_action("apt.install", {"packages": [installable], "dry_run": True})
    assert out.ok, out.message
    v = out.value
    mine = [c for c in v["changes"] if c["package"] == installable]
    assert mine == [
        {**mine[0], "action": "install", "version": _candidate(installable), "old_version": ""}
    ]
    assert v["dry_run"] and v["installed"] >= 1 and "newly installed" in v["log"]
    assert _status(installable) != "ii"


async def test_remove_dry_run_changes_nothing():
    victim = next((n for n in ("rpm", "iputils-ping", "nftables") if _status(n) == "ii"), None)
    if victim is None:
        pytest.skip("none of rpm, iputils-ping, nftables installed to simulate a removal")
    out = await run_action("apt.remove", {"packages": [victim], "dry_run": True, "purge": True})
    assert out.ok, out.message
    assert any(c["package"] == victim and c["action"] == "purge" for c in out.value["changes"])
    assert out.value["removed"] >= 1
    assert _status(victim) == "ii"


async def test_apt_unknown_package_and_bad_params():
    if not HAS_APT:
        assert (
            await run_action("apt.install", {"packages": ["x"], "dry_run": True})
        ).code == "A003"
        pytest.skip("apt-get absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    out = await run_action(
        "apt.install", {"packages": ["starling-no-such-package"], "dry_run": True}
    )
    assert out.code == "A017" and "starling-no-such-package" in out.message
    assert (await run_action("apt.install", {"packages": [], "dry_run": True})).code == "A002"
    assert (
        await run_action("apt.install", {"packages": ["-o=APT::Get::Foo"], "dry_run": True})
    ).code == "A002"
    assert (
        await run_action("apt.remove", {"packages": ["bash=bad version"], "dry_run": True})
    ).code == "A002"
    assert (await run_action("apt.remove", {"packages": "bash"})).code == "A002"


def _purge_demo() -> None:
    if _status("starling-demo").startswith(("i", "r")) or _status("starling-demo")[1:2] in (
        "i",
        "c",
    ):
        subprocess.run(["dpkg", "--purge", "starling-demo"], capture_output=True)


def _demo_files_exist() -> bool:
    import os

    return os.path.exists("/usr/share/stdemo/data.txt")


async def _apt_retrying_lock(action: str, params: dict):
    """Another test run may hold the dpkg lock for a moment: wait for it, up to a minute."""
    deadline = time.monotonic() + 60
    while True:
        out = await run_action(action, params)
        if out.code != "A014" or "lock" not in out.message or time.monotonic() > deadline:
            return out
        await trio.sleep(1)


@pytest.fixture
def demo_deb(deb_file):
    if _status("starling-demo") == "ii":
        pytest.fail("starling-demo is already installed on this host; purge it first")
    yield str(deb_file)
    _purge_demo()


async def test_real_install_and_purge_of_local_deb(demo_deb):
    if not HAS_APT:
        assert (await run_action("apt.install", {"packages": [demo_deb]})).code == "A003"
        pytest.skip("apt-get absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    out = await _apt_retrying_lock("apt.install", {"packages": [demo_deb]})
    assert out.ok, out.message
    assert {"action": "install", "package": "starling-demo", "version": "1.2-3"}.items() <= next(
        c for c in out.value["changes"] if c["package"] == "starling-demo"
    ).items()
    assert (
        out.value["dry_run"] is False and _status("starling-demo") == "ii" and _demo_files_exist()
    )

    out = await _apt_retrying_lock("apt.remove", {"packages": ["starling-demo"], "purge": True})
    assert out.ok, out.message
    assert [c["action"] for c in out.value["changes"] if c["package"] == "starling-demo"] == [
        "remove"
    ]
    assert (
        out.value["removed"] == 1
        and _status("starling-demo") in ("", "un", "pn")
        and not _demo_files_exist()
    )
