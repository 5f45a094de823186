"""The packages, tested like a packager would: build the .deb and .rpm with the one
command (contrib/packaging/build.sh), install the agent into a clean Debian root,
check files, permissions and the unit, start the installed agent against a running
center and run a command, upgrade (config and state kept), remove and purge (nothing
left). The .rpm is inspected (files, config, scriptlets, requirements).

Bounded: the clean root is cached under .cache/ (debootstrap once); the builds and the
rest take a minute or two. Marked ``packaging`` so CI can run it as its own step.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._debroot import BIN, PYV, DebRoot, stop, wait_for, why_not
from .conftest import NEW, OLD

pytestmark = [pytest.mark.packaging, pytest.mark.skipif(bool(why_not()), reason=why_not() or "ok")]

TAG = "py" + PYV.replace(".", "")


def _starling(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, STARLING_HOME=str(home), COLUMNS="200")
    env.pop("STARLING_API", None)
    return subprocess.run([str(BIN / "starling"), *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def debroot() -> Iterator[DebRoot]:
    root = DebRoot(Path(tempfile.mkdtemp(prefix="starling-debroot-")))
    try:
        yield root
    finally:
        root.remove()


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A running center and proxy (this worktree's code) for the installed agent."""
    home = tmp_path_factory.mktemp("pkg-center")
    proc = _starling(home, "up", "--agents", "0", "--port", "0", "--detach", "--no-demo", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    try:
        up = json.loads((home / "up.json").read_text())
        secrets = json.loads((home / "secrets.json").read_text())
        yield {"home": home, "api": up["api"], "ca": up["ca_file"], "token": secrets["enroll_token"]}
    finally:
        _starling(home, "down")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _hosts(center: dict[str, Any]) -> list[dict[str, Any]]:
    proc = _starling(center["home"], "hosts", "--json")
    return list(json.loads(proc.stdout)["hosts"])


def _run(center: dict[str, Any], command: str) -> dict[str, Any]:
    proc = _starling(center["home"], "run", "--all", "--json", "--timeout", "30", "--", command)
    doc = json.loads(proc.stdout)
    assert doc["counts"].get("succeeded") == doc["total"] == 1, doc
    return dict(doc["hosts"][0])


# -- what the .deb says about itself ------------------------------------------------


def test_deb_metadata(packages):
    deb = packages["agent-old.deb"]
    info = subprocess.run(["dpkg-deb", "--info", str(deb)], capture_output=True, text=True, check=True).stdout
    assert re.search(rf"^ Depends: python{PYV}$", info, re.M), info
    assert f"Version: {OLD}-1.{TAG}" in info
    conffiles = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(deb)], capture_output=True, check=True).stdout
    listing = subprocess.run(["tar", "-xO", "./conffiles"], input=conffiles, capture_output=True, check=True).stdout.decode()
    assert listing.split() == ["/etc/starling/agent.toml"]
    files = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "./opt/starling/agent/lib/agent_core/_daemon.py" in files
    # The agent's bundle holds no server stack (the import contracts say it needs none).
    for absent in ("/lib/center/", "/lib/sqlalchemy/", "/lib/starlette/", "/lib/hypercorn/", "/lib/bashlex/", "/lib/rich/"):
        assert absent not in files, absent


# -- install, run, upgrade, remove, purge -------------------------------------------


def test_install_files_and_permissions(packages, debroot):
    debroot.before = debroot.snapshot()  # type: ignore[attr-defined]
    out = debroot.install(packages["agent-old.deb"])
    assert "systemctl enable --now starling-agent" in out.stdout
    status = debroot.run("dpkg-query", "-W", "-f=${Status} ${Version}", "starling-agent").stdout
    assert status == f"install ok installed {OLD}-1.{TAG}"
    assert _mode(debroot.host("/etc/starling/agent.toml")) == 0o600
    assert _mode(debroot.host("/var/lib/starling")) == 0o700
    assert os.readlink(debroot.host("/usr/bin/starling-agent")) == "/opt/starling/agent/bin/starling-agent"
    launcher = debroot.host("/opt/starling/agent/bin/starling-agent")
    assert _mode(launcher) == 0o755 and launcher.read_text().startswith(f"#!/usr/bin/python{PYV} -IS\n")
    unit = debroot.host("/usr/lib/systemd/system/starling-agent.service").read_text()
    for directive in ("Restart=always", "MemoryMax=", "CPUQuota=", "TasksMax=", "ExecStart=/usr/bin/starling-agent"):
        assert directive in unit
    # The bundled environment runs on the root's own Python, not this machine's.
    out = debroot.run("/usr/bin/starling-agent", "--help").stdout
    assert "The Starling agent daemon." in out
    ident = json.loads(debroot.run("/usr/bin/starling-agent", "identity", proc_fs=True).stdout)
    assert ident["hostname"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_verifies(debroot, tmp_path):
    # The root has no systemd; this machine's systemd checks the installed unit, with
    # ExecStart pointed at the installed launcher inside the root.
    unit = debroot.host("/usr/lib/systemd/system/starling-agent.service").read_text()
    unit = unit.replace("ExecStart=/usr/bin/starling-agent", f"ExecStart={debroot.host('/opt/starling/agent/bin/starling-agent')}")
    (tmp_path / "starling-agent.service").write_text(unit)
    proc = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "starling-agent.service")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "starling-agent.service" not in proc.stderr, proc.stderr


def _configure(debroot: DebRoot, center: dict[str, Any]) -> None:
    shutil.copy(center["ca"], debroot.host("/etc/starling/ca.pem"))
    conf = debroot.host("/etc/starling/agent.toml")
    text = conf.read_text()
    text = text.replace('center = ["https://center.example.net:8470"]', f'center = ["{center["api"]}"]')
    text = text.replace('enroll_token = ""', f'enroll_token = "{center["token"]}"')
    text = text.replace('identity_file = ""', 'identity_file = "/etc/starling/identity.toml"')
    conf.write_text(text + "# edited by the operator\n")
    debroot.host("/etc/starling/identity.toml").write_text('sn = "pkg-test-1"\nhostname = "debroot-pkg"\nidc = "local"\n')


def _start_agent(debroot: DebRoot, center: dict[str, Any], log: Path) -> subprocess.Popen[bytes]:
    proc = debroot.start("/usr/bin/starling-agent", "--config", "/etc/starling/agent.toml", log=log)
    wait_for(lambda: any(h["hostname"] == "debroot-pkg" and h["online"] for h in _hosts(center)) or proc.poll() is not None, 60, "the agent online")
    assert proc.poll() is None, log.read_text()[-3000:]
    return proc


def test_installed_agent_enrolls_and_runs_a_command(packages, debroot, center, tmp_path):
    _configure(debroot, center)
    agent = _start_agent(debroot, center, tmp_path / "agent.log")
    try:
        r = _run(center, "cat /etc/debian_version; cat /opt/starling/agent/VERSION")
        # The agent declared its actions (a child interpreter that must find the bundle).
        assert "cannot declare" not in (tmp_path / "agent.log").read_text()
        # It ran inside the root (Debian 12), from the installed package.
        assert r["stdout"].split()[0].startswith("12.")
        assert r["stdout"].split()[1] == f"{OLD}-1.{TAG}"
    finally:
        stop(agent)
    # The state the agent made, for the upgrade test.
    assert debroot.host("/var/lib/starling/agent-ed25519.pem").exists()
    assert _mode(debroot.host("/var/lib/starling/agent-ed25519.pem")) == 0o600


def test_upgrade_keeps_config_and_state(packages, debroot, center, tmp_path):
    conf_before = debroot.host("/etc/starling/agent.toml").read_bytes()
    key_before = debroot.host("/var/lib/starling/agent-ed25519.pem").read_bytes()
    enrollment = json.loads(debroot.host("/var/lib/starling/enrollment.json").read_text())
    debroot.install(packages["agent-new.deb"])
    assert debroot.run("dpkg-query", "-W", "-f=${Version}", "starling-agent").stdout == f"{NEW}-1.{TAG}"
    assert debroot.host("/etc/starling/agent.toml").read_bytes() == conf_before  # no prompt, kept
    assert not debroot.host("/etc/starling/agent.toml.dpkg-new").exists()
    assert debroot.host("/var/lib/starling/agent-ed25519.pem").read_bytes() == key_before
    agent = _start_agent(debroot, center, tmp_path / "agent.log")
    try:
        r = _run(center, "cat /opt/starling/agent/VERSION")
        assert r["stdout"].strip() == f"{NEW}-1.{TAG}"
        # Same host, same identity: one host on the center, with the enrolled id.
        hosts = [h for h in _hosts(center) if h["hostname"] == "debroot-pkg"]
        assert len(hosts) == 1 and hosts[0]["host_id"] == enrollment["agent_id"]
    finally:
        stop(agent)


def test_remove_then_purge_leaves_nothing(debroot):
    debroot.run("dpkg", "--remove", "starling-agent")
    assert not debroot.host("/opt/starling").exists()
    assert not debroot.host("/usr/bin/starling-agent").exists()
    assert debroot.host("/etc/starling/agent.toml").exists()  # remove keeps config...
    assert debroot.host("/var/lib/starling/agent-ed25519.pem").exists()  # ...and state
    debroot.run("dpkg", "--purge", "starling-agent")
    # The operator's own files (ca.pem, identity.toml) are theirs; take them out first
    # as an operator would, then nothing of ours may remain.
    left = debroot.snapshot() - debroot.before  # type: ignore[attr-defined]
    assert left == {"etc/starling", "etc/starling/ca.pem", "etc/starling/identity.toml"}, sorted(left)


def test_center_package_installs_and_purges(packages, debroot):
    before = debroot.snapshot()
    debroot.install(packages["center-old.deb"])
    assert debroot.run("getent", "passwd", "starling").stdout.startswith("starling:")
    conf = debroot.host("/etc/starling/center.toml")
    assert _mode(conf) == 0o640 and conf.stat().st_gid == int(debroot.run("getent", "group", "starling").stdout.split(":")[2])
    assert _mode(debroot.host("/var/lib/starling-center")) == 0o750
    codes = json.loads(debroot.run("/usr/bin/starling", "codes", "--json").stdout)
    assert any(c["code"] == "E001" for c in codes["codes"])
    for unit in ("starling-center", "starling-proxy"):
        text = debroot.host(f"/usr/lib/systemd/system/{unit}.service").read_text()
        assert "User=starling" in text and "ProtectSystem=strict" in text and "NoNewPrivileges=yes" in text
    debroot.run("dpkg", "--purge", "starling-center")
    # The system user stays (Debian policy: files may still carry its uid).
    left = {p for p in debroot.snapshot() - before if p not in ("etc/passwd-", "etc/group-", "etc/shadow-", "etc/gshadow-")}
    assert left == set(), sorted(left)


# -- the .rpm ---------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("rpm") is None, reason="rpm is not installed (apt install rpm)")
def test_rpm_contents_and_scriptlets(packages):
    rpm = str(packages["agent-old.rpm"])

    def q(*args: str) -> str:
        return subprocess.run(["rpm", "-qp", *args, rpm], capture_output=True, text=True, check=True).stdout

    files = q("-l").split()
    assert "/usr/lib/systemd/system/starling-agent.service" in files and "/usr/bin/starling-agent" in files
    assert not any("/lib/center/" in f for f in files)
    assert q("-c").split() == ["/etc/starling/agent.toml"]
    dump = {line.split()[0]: line.split() for line in q("--dump").splitlines()}
    assert dump["/etc/starling/agent.toml"][4].endswith("100600")
    assert dump["/var/lib/starling"][4].endswith("40700")
    assert f"python{PYV}" in q("--requires").split()
    scripts = q("--scripts")
    for phase in ("postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet"):
        assert phase in scripts
    assert "systemctl try-restart starling-agent.service" in scripts
    center = subprocess.run(["rpm", "-qp", "--scripts", str(packages["center-old.rpm"])], capture_output=True, text=True, check=True).stdout
    assert "preinstall scriptlet" in center and "useradd --system" in center
