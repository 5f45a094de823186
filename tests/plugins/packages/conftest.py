"""Fixtures for the package plugin tests: a real .deb and .rpm installed into
throwaway root directories, so no test touches the host's package database."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CONTROL = """\
Package: starling-demo
Version: 1.2-3
Architecture: all
Maintainer: Starling Tests <tests@example.org>
Installed-Size: 8
Depends: libc6 (>= 2.17), bash | zsh
Section: misc
Priority: optional
Homepage: https://example.org/starling
Description: Starling test package
 A package built by the Starling tests.
 .
 Second paragraph.
"""

SPEC = """\
Name: starling-demo
Version: 1.2
Release: 3
Summary: Starling test package
License: Apache-2.0
URL: https://example.org/starling
BuildArch: noarch
%description
A package built by the Starling tests.
%install
mkdir -p %{buildroot}/usr/share/stdemo %{buildroot}/etc/stdemo
echo data > %{buildroot}/usr/share/stdemo/data.txt
echo key=value > %{buildroot}/etc/stdemo/demo.conf
%files
/usr/share/stdemo/data.txt
%config(noreplace) /etc/stdemo/demo.conf
"""


def _run(*argv: str | Path, stdin: str | None = None) -> str:
    res = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        input=stdin,
        stdin=None if stdin else subprocess.DEVNULL,
    )
    assert res.returncode == 0, f"{argv}: {res.stderr}"
    return res.stdout


def _build_deb(base: Path, version: str) -> Path:
    pkg = base / f"pkg-{version}"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN/control").write_text(CONTROL.replace("Version: 1.2-3", f"Version: {version}"))
    (pkg / "DEBIAN/conffiles").write_text("/etc/stdemo/demo.conf\n")
    (pkg / "etc/stdemo").mkdir(parents=True)
    (pkg / "etc/stdemo/demo.conf").write_text("key=value\n")
    (pkg / "usr/share/stdemo").mkdir(parents=True)
    (pkg / "usr/share/stdemo/data.txt").write_text(f"data {version}\n")
    out = base / f"starling-demo_{version}_all.deb"
    _run("dpkg-deb", "--build", "--root-owner-group", pkg, out)
    return out


@pytest.fixture(scope="session")
def deb_file(tmp_path_factory) -> Path:
    """starling-demo 1.2-3 as a .deb."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not installed (needed to build the test package)")
    return _build_deb(tmp_path_factory.mktemp("deb"), "1.2-3")


@pytest.fixture(scope="session")
def deb_file_newer(tmp_path_factory) -> Path:
    """starling-demo 1.3-1 as a .deb: an upgrade of :func:`deb_file`."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not installed (needed to build the test package)")
    return _build_deb(tmp_path_factory.mktemp("deb-newer"), "1.3-1")


@pytest.fixture
def deb_root(tmp_path, deb_file) -> Path:
    """A root directory with its own dpkg database holding only starling-demo."""
    root = tmp_path / "debroot"
    (root / "var/lib/dpkg/updates").mkdir(parents=True)
    (root / "var/lib/dpkg/info").mkdir()
    (root / "var/lib/dpkg/status").write_text("")
    _run(
        "dpkg",
        f"--root={root}",
        "--force-not-root",
        "--force-script-chrootless",
        "--force-depends",
        "-i",
        deb_file,
    )
    return root


@pytest.fixture(scope="session")
def rpm_file(tmp_path_factory) -> Path:
    if shutil.which("rpmbuild") is None:
        pytest.skip("rpmbuild not installed (needed to build the test package)")
    top = tmp_path_factory.mktemp("rpm")
    (top / "SPECS").mkdir()
    (top / "SPECS/demo.spec").write_text(SPEC)
    _run(
        "rpmbuild",
        "--define",
        f"_topdir {top}",
        "--define",
        "_build_id_links none",
        "-bb",
        top / "SPECS/demo.spec",
    )
    return next((top / "RPMS").rglob("*.rpm"))


@pytest.fixture
def rpm_root(tmp_path, rpm_file) -> Path:
    """A root directory with its own RPM database holding only starling-demo."""
    root = tmp_path / "rpmroot"
    root.mkdir()
    _run("rpm", "--root", root, "--initdb")
    _run("rpm", "--root", root, "-i", "--nodeps", "--noscripts", rpm_file)
    return root


def _assert_bad_params(act, params: dict) -> None:
    """The action's params Struct refuses ``params`` with A002 (without running it)."""
    import msgspec

    from agent_core import ActionError

    try:
        act.decode_params(msgspec.msgpack.encode(params))
    except ActionError as exc:
        assert exc.code == "A002", exc
    else:
        raise AssertionError(f"{act.name} accepted {params!r}")


# Fixtures hand the helpers to the tests (test modules cannot import conftest
# under pytest's importlib import mode).


@pytest.fixture
def run():
    """Run a command (argv, optional ``stdin``), failing the test when it fails."""
    return _run


@pytest.fixture
def bad_params():
    return _assert_bad_params
