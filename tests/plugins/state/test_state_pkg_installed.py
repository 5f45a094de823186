"""state.pkg.installed on the dpkg backend: dry-run only (no package is installed here): installed,
missing, unknown. Its rpm path, a real install through dnf, is in tests/plugins/packages/test_pkg_pkg_dnf.py."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from agent_core.testing import run_action

pytestmark = pytest.mark.skipif(not shutil.which("dpkg-query"), reason="dpkg-query not installed (the rpm path runs in tests/plugins/packages/test_pkg_pkg_dnf.py)")


def _dpkg_version(name: str) -> str | None:
    res = subprocess.run(["dpkg-query", "-W", "-f", "${Status}\t${Version}", name], capture_output=True, text=True)
    status, _, version = res.stdout.partition("\t")
    return version if res.returncode == 0 and status.endswith(" installed") else None


def _candidate(name: str) -> str | None:
    out = subprocess.run(["apt-cache", "policy", name], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.strip().startswith("Candidate:"):
            value = line.split(":", 1)[1].strip()
            return None if value == "(none)" else value
    return None


async def test_installed_package_is_unchanged():
    version = _dpkg_version("dpkg")
    for params in ({"name": "dpkg"}, {"name": "dpkg", "version": version}):
        out = await run_action("state.pkg.installed", {**params, "dry_run": True})
        assert out.ok, out.message
        assert out.value["changed"] is False and version in out.value["comment"]
    # Real run on an installed package: nothing to do, nothing run.
    out = await run_action("state.pkg.installed", {"name": "dpkg"})
    assert out.ok and out.value["changed"] is False


async def test_missing_package_dry_run_lists_what_would_come():
    name = "hello"
    if _dpkg_version(name) is not None or _candidate(name) is None:
        pytest.skip("apt has no 'hello' candidate here (package lists not fetched)")
    out = await run_action("state.pkg.installed", {"name": name, "dry_run": True})
    assert out.ok, out.message
    assert out.value["changed"] is True and out.value["dry_run"] is True
    assert f"+ hello {_candidate(name)}" in out.value["diff"]
    assert _dpkg_version(name) is None  # still not installed


async def test_unknown_package_and_bad_params():
    out = await run_action("state.pkg.installed", {"name": "starling-no-such-package-xyz", "dry_run": True})
    assert out.code == "A017"
    assert (await run_action("state.pkg.installed", {"name": "bad name; rm -rf /", "dry_run": True})).code == "A002"
    assert (await run_action("state.pkg.installed", {"name": "-oDebug", "dry_run": True})).code == "A002"
    assert (await run_action("state.pkg.installed", {"name": "dpkg", "version": "1 2", "dry_run": True})).code == "A002"
    assert (await run_action("state.pkg.installed", {"dry_run": True})).code == "A002"
