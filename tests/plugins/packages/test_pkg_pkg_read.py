"""pkg.list / pkg.info / pkg.files / pkg.verify through both backends: the host's dpkg
database, and a real .deb and .rpm installed into throwaway roots (so nothing here
touches the host's packages). The answers are compared with what dpkg and rpm say
themselves."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from agent_core.testing import needs, run_action
from plugins.packages import _backend, pkg

HAS_DPKG = os.path.exists("/var/lib/dpkg/status") and shutil.which("dpkg-query") is not None


def _status_paragraphs() -> list[dict[str, str]]:
    with open("/var/lib/dpkg/status") as fh:
        return [
            dict(
                ln.split(": ", 1)
                for ln in para.splitlines()
                if ": " in ln and not ln.startswith(" ")
            )
            for para in fh.read().split("\n\n")
        ]


def _installed_from_status() -> set[tuple[str, str]]:
    return {
        (f["Package"], f.get("Architecture", ""))
        for f in _status_paragraphs()
        if f.get("Status", "").endswith(" installed")
    }


def _list_mtime(name: str, arch: str) -> int:
    """The mtime of dpkg's record of ``name``'s files (``info/NAME[:ARCH].list``)."""
    for base in (f"{name}:{arch}", name):
        path = f"/var/lib/dpkg/info/{base}.list"
        if os.path.exists(path):
            return int(os.stat(path).st_mtime)
    raise AssertionError(f"no dpkg .list file for {name}")


# -- backend choice ----------------------------------------------------------------------


def test_backend_detection(deb_root, rpm_root, tmp_path):
    assert _backend.detect(str(deb_root)) == "dpkg"
    assert _backend.detect(str(rpm_root)) == "rpm"
    assert _backend.detect(str(tmp_path / "empty")) is None
    if HAS_DPKG:  # a Debian host with rpm installed is still a dpkg host
        assert _backend.detect() == "dpkg"


async def test_pkg_backend_errors(tmp_path, bad_params):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = await run_action("pkg.list", {"root": str(empty)})
    assert out.code == "A003" and "no dpkg or rpm package database" in out.message
    bad_params(pkg.pkg_list, {"backend": "pacman"})
    bad_params(pkg.info, {"name": "bash", "backend": "apt"})
    assert (await run_action("pkg.list", {"backend": "zypper"})).code == "A002"


async def test_pkg_unavailable_without_either_database_tool(hidden_tools):
    run = hidden_tools("dpkg-query", "rpm")
    for action, params in (("pkg.list", {}), ("pkg.info", {"name": "bash"}), ("pkg.updates", {})):
        out = await run(action, params)
        assert out.code == "A003" and "neither dpkg nor rpm" in out.message, (action, out.message)


# -- dpkg ------------------------------------------------------------------------------


@pytest.mark.skipif(
    not HAS_DPKG, reason="no dpkg database on this host: the real path is not exercised here"
)
async def test_pkg_list_matches_dpkg_status_file():
    out = await run_action("pkg.list", {})
    assert out.ok, out.message
    v = out.value
    assert v["backend"] == "dpkg"
    assert {(p["name"], p["arch"]) for p in v["packages"]} == _installed_from_status()
    assert v["count"] == len(v["packages"]) and v["total_size"] == sum(
        p.get("size", 0) for p in v["packages"]
    )
    out = await run_action("pkg.list", {"pattern": "bash"})
    assert [(p["name"], p["backend"]) for p in out.value["packages"]] == [("bash", "dpkg")]
    # recent: newest unpacked first, and the times are those of dpkg's .list files
    out = await run_action("pkg.list", {"recent": 3})
    times = [p["install_time"] for p in out.value["packages"]]
    assert len(times) == 3 and times == sorted(times, reverse=True)
    newest = out.value["packages"][0]
    assert times[0] == _list_mtime(newest["name"], newest["arch"])


async def test_pkg_list_dpkg_states_in_test_root(deb_root, run):
    out = await run_action("pkg.list", {"root": str(deb_root)})
    assert out.ok, out.message
    assert [
        (p["name"], p["version"], p["arch"], p["size"], p["backend"]) for p in out.value["packages"]
    ] == [("starling-demo", "1.2-3", "all", 8192, "dpkg")]
    run(
        "dpkg",
        f"--root={deb_root}",
        "--force-not-root",
        "--set-selections",
        stdin="starling-demo hold\n",
    )
    out = await run_action("pkg.list", {"root": str(deb_root), "state": "held"})
    assert [(p["name"], p["held"]) for p in out.value["packages"]] == [("starling-demo", True)]
    run(
        "dpkg",
        f"--root={deb_root}",
        "--force-not-root",
        "--set-selections",
        stdin="starling-demo install\n",
    )
    run(
        "dpkg",
        f"--root={deb_root}",
        "--force-not-root",
        "--force-script-chrootless",
        "-r",
        "starling-demo",
    )
    assert (await run_action("pkg.list", {"root": str(deb_root)})).value["count"] == 0
    out = await run_action("pkg.list", {"root": str(deb_root), "state": "config-files"})
    assert [(p["name"], p["status"]) for p in out.value["packages"]] == [
        ("starling-demo", "config-files")
    ]
    out = await run_action("pkg.list", {"root": str(deb_root), "state": "all"})
    assert out.value["count"] == 1


async def test_pkg_info_of_test_deb(deb_root):
    out = await run_action("pkg.info", {"name": "starling-demo", "root": str(deb_root)})
    assert out.ok, out.message
    assert out.value["backend"] == "dpkg" and out.value["count"] == 1
    (v,) = out.value["packages"]
    assert (v["version"], v["arch"], v["section"], v["source"], v["status"]) == (
        "1.2-3",
        "all",
        "misc",
        "starling-demo",
        "installed",
    )
    assert v["size"] == 8 * 1024 and v["homepage"] == "https://example.org/starling"
    assert v["relations"] == {"depends": ["libc6 (>= 2.17)", "bash | zsh"]}
    assert v["summary"] == "Starling test package"
    assert v["description"] == "A package built by the Starling tests.\n\nSecond paragraph."
    assert v["config_files"] == ["/etc/stdemo/demo.conf"]
    assert v["install_time"] == int(
        os.stat(deb_root / "var/lib/dpkg/info/starling-demo.list").st_mtime
    )


@pytest.mark.skipif(
    not HAS_DPKG, reason="no dpkg database on this host: the real path is not exercised here"
)
async def test_pkg_info_bash_matches_status_file():
    out = await run_action("pkg.info", {"name": "bash"})
    assert out.ok, out.message
    expected = next(f for f in _status_paragraphs() if f.get("Package") == "bash")
    (v,) = out.value["packages"]
    assert (v["version"], v["arch"], v["essential"]) == (
        expected["Version"],
        expected["Architecture"],
        True,
    )
    assert v["size"] == int(expected["Installed-Size"]) * 1024


async def test_pkg_info_errors(deb_root, tmp_path):
    assert (await run_action("pkg.info", {"name": "bash", "root": str(deb_root)})).code == "A017"
    assert (
        await run_action("pkg.info", {"name": "starling-no-such-package", "root": str(deb_root)})
    ).code == "A017"
    # Valid for rpm, not for Debian policy: the backend's own check answers.
    out = await run_action("pkg.info", {"name": "Bad_Name", "root": str(deb_root)})
    assert out.code == "A002" and "Debian package name" in out.message
    assert (await run_action("pkg.info", {"name": "-s"})).code == "A002"
    assert (await run_action("pkg.info", {"name": "bash", "root": "relative"})).code == "A002"


async def test_pkg_files_of_test_deb(deb_root):
    root = str(deb_root)
    out = await run_action("pkg.files", {"name": "starling-demo", "root": root})
    assert out.ok, out.message
    v = out.value
    assert v["files"] == ["/etc/stdemo/demo.conf", "/usr/share/stdemo/data.txt"]
    assert (v["config_files"], v["missing"], v["diversions"], v["backend"]) == (
        ["/etc/stdemo/demo.conf"],
        [],
        [],
        "dpkg",
    )
    out = await run_action(
        "pkg.files", {"name": "starling-demo", "root": root, "include_dirs": True}
    )
    assert "/usr/share/stdemo" in out.value["files"]
    (deb_root / "usr/share/stdemo/data.txt").unlink()
    out = await run_action(
        "pkg.files", {"name": "starling-demo", "root": root, "check_missing": True}
    )
    assert out.value["missing"] == ["/usr/share/stdemo/data.txt"]
    assert (await run_action("pkg.files", {"name": "bash", "root": root})).code == "A017"
    assert (await run_action("pkg.files", {"name": "../x", "root": root})).code == "A002"


async def test_pkg_verify_test_deb(deb_root):
    root = str(deb_root)
    out = await run_action("pkg.verify", {"name": "starling-demo", "root": root})
    assert out.ok, out.message
    assert out.value == {"backend": "dpkg", "ok": True, "changed": [], "changed_non_config": 0}
    (deb_root / "usr/share/stdemo/data.txt").write_text("tampered\n")
    (deb_root / "etc/stdemo/demo.conf").write_text("key=edited\n")
    out = await run_action("pkg.verify", {"root": root})
    assert out.ok and out.value["ok"] is False
    changed = {c["path"]: c for c in out.value["changed"]}
    assert changed["/usr/share/stdemo/data.txt"] == {
        "path": "/usr/share/stdemo/data.txt",
        "problems": ["checksum"],
        "kind": "",
    }
    assert changed["/etc/stdemo/demo.conf"]["kind"] == "config"
    assert out.value["changed_non_config"] == 1
    assert (await run_action("pkg.verify", {"name": "bash", "root": root})).code == "A017"


# -- rpm -------------------------------------------------------------------------------


def _rpm_q(root, *args: str) -> str:
    return subprocess.run(
        ["rpm", "--root", str(root), "-q", *args], capture_output=True, text=True, check=True
    ).stdout


async def test_pkg_list_and_info_of_test_rpm(rpm_root):
    # root alone picks the rpm backend (its database is there); backend says so too.
    for params in ({"root": str(rpm_root)}, {"root": str(rpm_root), "backend": "rpm"}):
        out = await run_action("pkg.list", params)
        assert out.ok, out.message
        assert out.value["backend"] == "rpm"
        assert [
            (p["name"], p["version"], p["arch"], p["backend"]) for p in out.value["packages"]
        ] == [("starling-demo", "1.2-3", "noarch", "rpm")]
    (row,) = out.value["packages"]
    assert (
        row["size"] == len("data\n") + len("key=value\n")
        and 0 < row["install_time"] <= time.time() + 1
    )
    assert (await run_action("pkg.list", {"root": str(rpm_root), "state": "held"})).value[
        "packages"
    ] == []
    assert (await run_action("pkg.list", {"root": str(rpm_root), "pattern": "nothing*"})).value[
        "count"
    ] == 0

    out = await run_action("pkg.info", {"name": "starling-demo", "root": str(rpm_root)})
    assert out.ok, out.message
    (v,) = out.value["packages"]
    assert (v["version"], v["arch"], v["license"], v["homepage"], v["source"]) == (
        "1.2-3",
        "noarch",
        "Apache-2.0",
        "https://example.org/starling",
        "starling-demo-1.2-3.src.rpm",
    )
    assert (
        v["summary"] == "Starling test package"
        and v["description"] == "A package built by the Starling tests."
    )
    assert "starling-demo = 1.2-3" in v["relations"]["provides"]
    assert "config(starling-demo) = 1.2-3" in v["relations"]["requires"]
    assert v["config_files"] == ["/etc/stdemo/demo.conf"]
    assert v["install_time"] == int(_rpm_q(rpm_root, "--qf", "%{INSTALLTIME}", "starling-demo"))
    assert (await run_action("pkg.info", {"name": "bash", "root": str(rpm_root)})).code == "A017"
    assert (await run_action("pkg.info", {"name": "-qa", "root": str(rpm_root)})).code == "A002"


async def test_pkg_files_and_verify_of_test_rpm(rpm_root):
    root = str(rpm_root)
    out = await run_action("pkg.files", {"name": "starling-demo", "root": root})
    assert out.ok, out.message
    assert out.value["files"] == _rpm_q(rpm_root, "-l", "starling-demo").split()
    assert out.value["config_files"] == ["/etc/stdemo/demo.conf"] and out.value["backend"] == "rpm"

    out = await run_action("pkg.verify", {"name": "starling-demo", "root": root})
    assert out.value == {"backend": "rpm", "ok": True, "changed": [], "changed_non_config": 0}
    (rpm_root / "usr/share/stdemo/data.txt").write_text("tampered and longer\n")
    (rpm_root / "etc/stdemo/demo.conf").unlink()
    out = await run_action("pkg.verify", {"root": root})
    assert out.ok and out.value["ok"] is False
    changed = {c["path"]: c for c in out.value["changed"]}
    data = changed["/usr/share/stdemo/data.txt"]
    assert {"size", "checksum"} <= set(data["problems"]) and data["kind"] == ""
    assert changed["/etc/stdemo/demo.conf"] == {
        "path": "/etc/stdemo/demo.conf",
        "problems": ["missing"],
        "kind": "config",
    }
    assert out.value["changed_non_config"] == 1
    out = await run_action(
        "pkg.files", {"name": "starling-demo", "root": root, "check_missing": True}
    )
    assert out.value["missing"] == ["/etc/stdemo/demo.conf"]


@needs("rpm")
async def test_pkg_rpm_backend_on_this_host():
    """The host's own RPM database (empty on a Debian host, but real)."""
    out = await run_action("pkg.list", {"backend": "rpm"})
    assert out.ok, out.message
    res = subprocess.run(["rpm", "-qa"], capture_output=True, text=True, check=True)
    assert out.value["count"] == len([ln for ln in res.stdout.splitlines() if ln.strip()])


async def test_rpm_backend_unavailable_without_rpm(hidden_tools, rpm_root):
    out = await hidden_tools("rpm")("pkg.info", {"name": "starling-demo", "root": str(rpm_root)})
    assert out.code == "A003" and "rpm is not installed" in out.message


def test_bad_params_refused_before_running(bad_params):
    bad_params(pkg.pkg_list, {"recent": 0})
    bad_params(pkg.pkg_list, {"pattern": "a b"})
    bad_params(pkg.info, {"name": "../etc"})
    bad_params(pkg.files, {"name": "bash", "everything": True})
    bad_params(pkg.verify, {"name": "-Va"})


async def test_pkg_list_bad_state_and_pattern():
    assert (await run_action("pkg.list", {"state": "happy"})).code == "A002"
    assert (await run_action("pkg.list", {"pattern": "-a"})).code == "A002"
