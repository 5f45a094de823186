"""apt.install / apt.remove, always in simulation mode: nothing is installed or removed."""

from __future__ import annotations

import shutil
import subprocess

import pytest

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
        return
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
