"""The rpm backend of pkg.* through a real dnf (Debian's dnf 4 here), end to end.

A throwaway rpm, starling-demo-rpm 1.0 and 1.1 built with nfpm, is served from a local
repository made with createrepo_c; dnf and rpm keep their state in the test's
temporary directory and read their configuration from this process's private ``/etc``
(the ``dnf_world`` fixture). pkg.install -> list / info / files / verify -> updates ->
upgrade -> remove run with ``backend: rpm`` as they would on an EL host, and
state.pkg.installed with dpkg hidden (so rpm is the native backend); at the end nothing
is left on the machine. yum runs the same test where it is installed (never on
Debian, which has no yum)."""

from __future__ import annotations

import os
import shutil

import pytest

from agent_core.testing import run_action
from plugins.packages import _backend

DEMO = "starling-demo-rpm"
DATA = "/opt/starling-demo-rpm/data.txt"


def _exists(path: str) -> bool:
    return os.path.exists(path)


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def _mine(out) -> list[tuple[str, str, str, str, str]]:
    return [
        (
            c["action"],
            c["version"],
            c.get("old_version", ""),
            c.get("arch", ""),
            c.get("origin", ""),
        )
        for c in out.value["changes"]
        if c["package"] == DEMO
    ]


@pytest.fixture(params=["dnf", "yum"])
def manager_run(request, hidden_tools, no_yum_reason):
    """``run_action`` seeing dnf, or (hiding dnf) yum."""
    if request.param == "dnf":
        return "dnf", run_action
    if shutil.which("yum") is None:
        pytest.skip(no_yum_reason())
    return "yum", hidden_tools("dnf")


async def test_rpm_backend_through_a_real_manager(dnf_world, manager_run, hidden_tools):
    manager, run = manager_run
    rpm = {"backend": "rpm"}
    dnf_world.publish("1.0")

    # An unknown package and a dry run change nothing.
    out = await run("pkg.install", {"packages": ["starling-no-such-package"], **rpm})
    assert out.code == "A017" and "starling-no-such-package" in out.message, out.message
    out = await run(
        "pkg.install", {"packages": [DEMO], "dry_run": True, "no_recommends": True, **rpm}
    )
    assert out.ok, out.message
    assert (out.value["backend"], out.value["manager"], out.value["dry_run"]) == (
        "rpm",
        manager,
        True,
    )
    assert _mine(out) == [("install", "2:1.0-1", "", "noarch", "starling-demo")]
    assert out.value["installed"] == 1 and not out.value["nothing_to_do"]
    assert dnf_world.rpm_q(DEMO) == "" and not _exists(DATA)

    # What is not installed: removing or upgrading it has nothing to do (as with apt-get),
    # reinstalling it is A017.
    for action in ("pkg.remove", "pkg.upgrade"):
        out = await run(action, {"packages": [DEMO], **rpm})
        assert out.ok and out.value["nothing_to_do"] and out.value["changes"] == [], out
        assert DEMO in out.value["log"], out.value["log"]
    out = await run("pkg.install", {"packages": [DEMO], "reinstall": True, **rpm})
    assert out.code == "A017" and "not installed" in out.message, out.message

    # Another dnf holds the rpm database lock: A014 at once (a dry run takes no lock).
    # yum 3 keeps its lock in /var/run/yum.pid, outside the test's reach: dnf only.
    if manager == "dnf":
        with dnf_world.locked() as pid:
            out = await run("pkg.install", {"packages": [DEMO], **rpm})
            assert out.code == "A014" and f"pid {pid}" in out.message, out.message
            assert (await run("pkg.install", {"packages": [DEMO], "dry_run": True, **rpm})).ok
        assert dnf_world.rpm_q(DEMO) == ""

    # The real install, then the reads see it.
    out = await run("pkg.install", {"packages": [DEMO], **rpm})
    assert out.ok, out.message
    assert out.value["dry_run"] is False and _mine(out) == [
        ("install", "2:1.0-1", "", "noarch", "starling-demo")
    ]
    assert "Install" in out.value["log"]
    assert dnf_world.rpm_q(DEMO) == f"{DEMO}-1.0-1.noarch" and _read(DATA) == "data 1.0\n"
    out = await run("pkg.install", {"packages": [DEMO], **rpm})
    assert out.ok and out.value["nothing_to_do"] and out.value["changes"] == [], out.value

    out = await run("pkg.install", {"packages": [DEMO], "reinstall": True, "dry_run": True, **rpm})
    assert out.ok and _mine(out) == [("reinstall", "2:1.0-1", "2:1.0-1", "noarch", "starling-demo")]

    out = await run("pkg.list", {"pattern": "starling-demo*", **rpm})
    assert out.ok, out.message
    [row] = out.value["packages"]
    assert (row["name"], row["version"], row["arch"], row["backend"]) == (
        DEMO,
        "2:1.0-1",
        "noarch",
        "rpm",
    )
    assert row["summary"] == "Starling test package" and row["install_time"] > 0
    out = await run("pkg.list", {"recent": 1, **rpm})
    assert [p["name"] for p in out.value["packages"]] == [DEMO]
    out = await run("pkg.info", {"name": DEMO, **rpm})
    assert out.ok, out.message
    [info] = out.value["packages"]
    assert (info["version"], info["license"], info["maintainer"]) == (
        "2:1.0-1",
        "Apache-2.0",
        "Starling Tests <tests@example.org>",
    )
    assert info["description"] == "A throwaway package built by the Starling tests."
    out = await run("pkg.files", {"name": DEMO, "check_missing": True, **rpm})
    assert out.ok and out.value["files"] == [DATA] and out.value["missing"] == [], out.value
    assert (await run("pkg.verify", {"name": DEMO, **rpm})).value["ok"] is True

    # Nothing to update; then 1.1 is published.
    out = await run("pkg.updates", rpm)
    assert out.ok and out.value["count"] == 0 and out.value["updates"] == [], out.value
    dnf_world.publish("1.1", advisory=True)
    for params in ({}, {"cache_only": True}):
        out = await run("pkg.updates", {**params, **rpm})
        assert out.ok, out.message
        assert out.value["updates"] == [
            {
                "name": DEMO,
                "arch": "noarch",
                "current": "2:1.0-1",
                "candidate": "2:1.1-1",
                "origin": "starling-demo",
                "security": True,
            }
        ], params
        assert (out.value["count"], out.value["security"], out.value["backend"]) == (1, 1, "rpm")
    out = await run("pkg.updates", {"security_only": True, **rpm})
    assert out.ok and out.value["count"] == 1 and out.value["updates"][0]["name"] == DEMO

    # Upgrade: a dry run, the real one, then nothing left to do.
    out = await run("pkg.upgrade", {"dry_run": True, **rpm})
    assert out.ok, out.message
    assert _mine(out) == [("upgrade", "2:1.1-1", "2:1.0-1", "noarch", "starling-demo")]
    assert dnf_world.rpm_q(DEMO) == f"{DEMO}-1.0-1.noarch"
    out = await run("pkg.upgrade", {"packages": [DEMO], **rpm})
    assert out.ok, out.message
    assert _mine(out) == [("upgrade", "2:1.1-1", "2:1.0-1", "noarch", "starling-demo")]
    assert out.value["upgraded"] == 1 and _read(DATA) == "data 1.1\n"
    assert dnf_world.rpm_q(DEMO) == f"{DEMO}-1.1-1.noarch"
    out = await run("pkg.upgrade", rpm)
    assert out.ok and out.value["nothing_to_do"] and out.value["upgraded"] == 0
    assert (await run("pkg.updates", rpm)).value["count"] == 0

    # name=version (as pkg.list writes it, epoch first) pins an older one: dnf downgrades.
    out = await run("pkg.install", {"packages": [f"{DEMO}=2:1.0-1"], "dry_run": True, **rpm})
    assert out.ok, out.message
    assert _mine(out) == [("downgrade", "2:1.0-1", "2:1.1-1", "noarch", "starling-demo")]

    # A dependency nothing provides: A014 with dnf's explanation, nothing installed.
    dnf_world.publish("broken")
    for dry_run in (True, False):
        out = await run(
            "pkg.install", {"packages": ["starling-demo-broken"], "dry_run": dry_run, **rpm}
        )
        assert out.code == "A014", out
        assert "nothing provides starling-no-such-dependency" in out.message, out.message
    assert dnf_world.rpm_q("starling-demo-broken") == ""

    # Remove: a dry run, the real one; the files go with it.
    out = await run("pkg.remove", {"packages": [DEMO], "dry_run": True, **rpm})
    assert out.ok, out.message
    assert _mine(out) == [("remove", "", "2:1.1-1", "noarch", "@starling-demo")]
    assert _exists(DATA)
    out = await run("pkg.remove", {"packages": [DEMO], **rpm})
    assert out.ok, out.message
    assert (
        _mine(out) == [("remove", "", "2:1.1-1", "noarch", "@starling-demo")]
        and out.value["removed"] == 1
    )
    assert dnf_world.rpm_q(DEMO) == "" and not _exists("/opt/starling-demo-rpm")
    assert (await run("pkg.info", {"name": DEMO, **rpm})).code == "A017"

    # state.pkg.installed on an rpm host: with dpkg-query hidden the native backend is rpm.
    state = hidden_tools("dpkg-query", *(["dnf"] if manager == "yum" else []))
    assert _backend.detect() == "rpm"
    out = await state("state.pkg.installed", {"name": DEMO, "dry_run": True})
    assert out.ok and out.value["changed"], out.message
    assert out.value["diff"] == f"+ {DEMO} 2:1.1-1\n" and dnf_world.rpm_q(DEMO) == ""
    for changed in (True, False):
        out = await state("state.pkg.installed", {"name": DEMO, "version": "2:1.1-1"})
        assert out.ok and out.value["changed"] is changed, out.message
        assert "2:1.1-1" in out.value["comment"] and dnf_world.rpm_q(DEMO) == f"{DEMO}-1.1-1.noarch"
    out = await run("pkg.remove", {"packages": [DEMO], **rpm})
    assert out.ok and out.value["removed"] == 1, out.message

    # A local .rpm file (dnf's @commandline), installed and removed again.
    local = str(dnf_world.rpms["1.0"])
    out = await run("pkg.install", {"packages": [local], **rpm})
    assert out.ok, out.message
    assert _mine(out) == [("install", "2:1.0-1", "", "noarch", "@commandline")]
    out = await run("pkg.remove", {"packages": [DEMO], **rpm})
    assert out.ok and out.value["removed"] == 1, out.message

    left = dnf_world.leftovers()
    assert left == {}, (
        f"changed on the machine during the test (by it, or a dnf run elsewhere): {left}"
    )
