from __future__ import annotations

import glob
import os

import pytest

from agent_core.testing import run_action


@pytest.fixture
def root(tmp_path):
    apt = tmp_path / "etc/apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "sources.list").write_text(
        "# main archive\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/debian.gpg] http://deb.debian.org/debian bookworm main contrib\n"
        "# deb-src http://deb.debian.org/debian bookworm main\n"
        "deb [trusted=yes] http://repo.internal/apt stable main\n"
    )
    (apt / "sources.list.d/extra.sources").write_text(
        "Types: deb deb-src\nURIs: https://pkgs.example.org/apt\nSuites: bookworm\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/example.gpg\n\n"
        "# disabled on purpose\nTypes: deb\nURIs: https://old.example.org\nSuites: buster\nComponents: main\nEnabled: no\n"
    )
    (apt / "sources.list.d/old.list.save").write_text("deb http://ignored bookworm main\n")
    yum = tmp_path / "etc/yum.repos.d"
    yum.mkdir(parents=True)
    (yum / "internal.repo").write_text(
        "[internal]\nname=Internal packages\nbaseurl=https://repo.internal/el9/$basearch\n"
        "enabled=1\ngpgcheck=0\n\n[internal-debug]\nname=Debug\nmirrorlist=https://mirrors.internal/debug\nenabled=0\ngpgcheck=1\n"
        "gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-internal\n"
    )
    return tmp_path


async def test_repos_all_formats(root):
    out = await run_action("pkg.repos", {"root": str(root)})
    assert out.ok, out.message
    v = out.value
    summary = [(r["manager"], r["type"], r["uris"], r["suites"], r["enabled"]) for r in v["repos"]]
    assert summary == [
        ("apt", "deb", ["http://deb.debian.org/debian"], ["bookworm"], True),
        ("apt", "deb-src", ["http://deb.debian.org/debian"], ["bookworm"], False),
        ("apt", "deb", ["http://repo.internal/apt"], ["stable"], True),
        ("apt", "deb", ["https://pkgs.example.org/apt"], ["bookworm"], True),
        ("apt", "deb-src", ["https://pkgs.example.org/apt"], ["bookworm"], True),
        ("apt", "deb", ["https://old.example.org"], ["buster"], False),
        ("yum", "rpm", ["https://repo.internal/el9/$basearch"], [], True),
        ("yum", "rpm", ["https://mirrors.internal/debug"], [], False),
    ]
    first = v["repos"][0]
    assert (
        first["components"] == ["main", "contrib"]
        and first["signed_by"] == "/usr/share/keyrings/debian.gpg"
    )
    assert (
        first["options"]["arch"] == "amd64"
        and first["file"] == "/etc/apt/sources.list"
        and first["line"] == 2
    )
    assert v["repos"][6]["id"] == "internal" and v["repos"][6]["name"] == "Internal packages"
    assert v["repos"][7]["signed_by"] == "file:///etc/pki/rpm-gpg/RPM-GPG-KEY-internal"
    assert v["ignored_files"] == ["/etc/apt/sources.list.d/old.list.save"]
    assert (
        len(v["problems"]) == 2
        and any("trusted=yes" in p for p in v["problems"])
        and any("gpgcheck=0" in p for p in v["problems"])
    )
    out = await run_action("pkg.repos", {"root": str(root), "enabled_only": True})
    assert all(r["enabled"] for r in out.value["repos"]) and len(out.value["repos"]) == 5


def _apt_files() -> set[str]:
    files = set(
        glob.glob("/etc/apt/sources.list.d/*.list") + glob.glob("/etc/apt/sources.list.d/*.sources")
    )
    if os.path.isfile("/etc/apt/sources.list"):
        files.add("/etc/apt/sources.list")
    return files


async def test_repos_of_this_host():
    out = await run_action("pkg.repos", {})
    assert out.ok, out.message
    from_files = {r["file"] for r in out.value["repos"] if r["manager"] == "apt"}
    assert from_files <= _apt_files()


async def test_repos_bad_params(tmp_path):
    assert (await run_action("pkg.repos", {"root": "etc"})).code == "A002"
    assert (await run_action("pkg.repos", {"root": str(tmp_path / "none")})).code == "A017"
    assert (await run_action("pkg.repos", {"enabled": True})).code == "A002"
