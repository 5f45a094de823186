"""The packaged agent under a real systemd: its unit, its maintainer scripts' systemctl
calls, ``Restart=``, and ``agent.upgrade``'s systemd path.

The other package tests install into a chroot without systemd and supervise the agent
with a shell loop. Here the starling-agent .deb goes into a Debian 12 root booted with
systemd as PID 1 by ``systemd-nspawn`` (tests/plugins/_systemd_host.py), installed with
``dpkg -i`` as docs/install.md says, configured for a center on this machine and started
with ``systemctl enable --now``. The container shares this machine's network namespace
(``private_network=False``: no ``--private-network``), so the agent reaches the center on
127.0.0.1; it has its own PID, mount, UTS and IPC namespaces, and ``--volatile=overlay``
keeps the cached root unchanged (what is installed vanishes with the container).

The tests run in order on one container: install, enable and connect, SIGKILL and
restart, upgrade through ``systemd-run`` and systemd's restart, a failed upgrade rolled
back, remove and purge.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.plugins._systemd_host import SystemdContainer, systemd_root, why_no_container

from ._center import agent_config, center_up, online_version, reachable, starling, upgrade
from ._debroot import PYV, wait_for, why_not
from .conftest import NEW, OLD

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.skipif(bool(why_not()), reason=why_not() or "ok"),
    pytest.mark.skipif(bool(why_no_container()), reason=f"no systemd container here: {why_no_container()}"),
    pytest.mark.skipif(shutil.which("dpkg-scanpackages") is None, reason="dpkg-scanpackages is not installed (apt install dpkg-dev)"),
]
TAG = "py" + PYV.replace(".", "")
V_OLD, V_NEW = f"{OLD}-1.{TAG}", f"{NEW}-1.{TAG}"
HOSTNAME = "systemd-pkg"
UNIT = "starling-agent.service"
WANTS = "/etc/systemd/system/multi-user.target.wants/starling-agent.service"


@pytest.fixture(scope="module")
def box(packages, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A center on this machine, and a booted systemd container holding the two agent
    packages (in /srv/starling-repo, its only apt source) but nothing installed yet."""
    home = tmp_path_factory.mktemp("systemd-unit-center")
    profile, approver = center_up(home)
    container = SystemdContainer(tmp_path_factory.mktemp("systemd-unit-container"))
    try:
        container.boot(systemd_root(), private_network=False)
        # The repository, made here and copied in (dpkg-scanpackages finds nothing in a
        # folder seen through /proc/<pid>/root).
        repo = tmp_path_factory.mktemp("systemd-unit-repo")
        for name in ("agent-old.deb", "agent-new.deb"):
            shutil.copy(packages[name], repo / packages[name].name)
        index = subprocess.run(["dpkg-scanpackages", "--multiversion", "."], cwd=repo, capture_output=True, check=True).stdout
        assert b"Package: starling-agent" in index, index
        (repo / "Packages").write_bytes(index)
        shutil.copytree(repo, container.path("/srv/starling-repo"))
        for f in [*container.path("/etc/apt").rglob("*.list"), *container.path("/etc/apt/sources.list.d").glob("*.sources")]:
            f.unlink()
        container.path("/etc/apt/sources.list").write_text("deb [trusted=yes] file:/srv/starling-repo ./\n")
        yield {"home": home, "profile": profile, "approver": approver, "c": container, "deb": f"/srv/starling-repo/{packages['agent-old.deb'].name}"}
    finally:
        container.stop()
        starling(home, "down")


def _sh(box: dict[str, Any], *argv: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``argv`` in the container, as an operator's root shell there runs it."""
    return box["c"].run("env", "DEBIAN_FRONTEND=noninteractive", *argv, check=check, timeout=timeout)


def _show(box: dict[str, Any], *props: str) -> dict[str, str]:
    out = box["c"].systemctl("show", UNIT, "-p", ",".join(props)).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _journal(box: dict[str, Any], *args: str) -> str:
    return box["c"].run("journalctl", "--no-pager", "-o", "cat", *args, check=False).stdout


def _reloads(box: dict[str, Any]) -> int:
    """How many times the container's systemd reloaded its units (``daemon-reload``)."""
    return len(re.findall(r"^Reloading\b", _journal(box, "_PID=1"), re.M))


def _why(box: dict[str, Any]) -> str:
    """What to read when a test here fails: the unit's state and journal, the upgrade log."""
    c: SystemdContainer = box["c"]
    status = c.systemctl("status", "--no-pager", "-l", UNIT, check=False)
    log = c.path("/var/lib/starling/upgrade.log")
    return "\n".join([
        status.stdout[-2000:], "journal:", _journal(box, "-u", UNIT, "-n", "60")[-4000:],
        "upgrade.log:", log.read_text()[-2000:] if log.exists() else "(none)",
    ])  # fmt: skip


def _run(box: dict[str, Any], command: str) -> dict[str, Any]:
    """``starling run`` of ``command`` on the container's agent: its one host row."""
    proc = starling(box["home"], "run", "--host", HOSTNAME, "--json", "--timeout", "30", "--", command)
    doc = json.loads(proc.stdout or "{}")
    assert doc.get("counts", {}).get("succeeded") == doc.get("total") == 1, (proc.stdout, proc.stderr, _why(box))
    return dict(doc["hosts"][0])


def test_install_loads_the_unit_and_leaves_it_to_the_operator(box):
    # docs/install.md: install, set center and token, then `systemctl enable --now`. A
    # first install cannot start an agent that has no center to go to: postinst only
    # reloads systemd, so the unit is known, disabled and stopped.
    reloads = _reloads(box)
    _sh(box, "dpkg", "-i", box["deb"])
    assert _reloads(box) > reloads, _journal(box, "_PID=1")[-2000:]  # postinst's daemon-reload
    state = _show(box, "LoadState", "UnitFileState", "ActiveState", "FragmentPath")
    fragment = state.pop("FragmentPath")
    assert state == {"LoadState": "loaded", "UnitFileState": "disabled", "ActiveState": "inactive"}, state
    # The packaged file (Debian 12's systemd finds it as /lib/..., /lib being /usr/lib).
    unit_file = box["c"].path("/usr/lib/systemd/system/starling-agent.service")
    assert box["c"].path(fragment).resolve() == unit_file.resolve(), fragment
    # The unit as this systemd (252, Debian 12) reads it: no unknown or bad option.
    verify = box["c"].run("systemd-analyze", "verify", UNIT, check=False)
    assert "starling-agent.service:" not in verify.stderr, verify.stderr


def test_enable_now_connects_and_runs_a_job(box):
    c: SystemdContainer = box["c"]
    shutil.copy(box["profile"]["ca_file"], c.path("/etc/starling/ca.pem"))
    conf = c.path("/etc/starling/agent.toml")
    conf.write_text(agent_config(box["home"], conf.read_text(), "/etc/starling/identity.toml"))
    c.path("/etc/starling/identity.toml").write_text(f'sn = "systemd-pkg-1"\nhostname = "{HOSTNAME}"\nidc = "local"\n')
    c.systemctl("enable", "--now", UNIT)
    assert c.systemctl("is-enabled", UNIT).stdout.strip() == "enabled"
    assert c.path(WANTS).is_symlink()
    wait_for(lambda: online_version(box["home"], HOSTNAME) == V_OLD, 60, "the agent under systemd online")
    r = _run(box, "id -un; cat /opt/starling/agent/VERSION; cat /proc/self/cgroup; echo umask=$(umask)")
    lines = r["stdout"].split()
    assert lines[:2] == ["root", V_OLD], r
    # The command runs in the agent's cgroup, so the unit's limits cover it (docs/install.md).
    # The limits below are the unit's as systemd read them; that the kernel enforces them
    # is not seen here: this machine's cgroups are the v1/hybrid layout, whose controller
    # hierarchies nspawn mounts read-only in the container (only the systemd ones are its).
    assert re.search(r"^0::/system\.slice/starling-agent\.service$", r["stdout"], re.M), r["stdout"]
    assert "umask=0077" in lines, r  # UMask=0077
    limits = _show(box, "MemoryMax", "TasksMax", "CPUQuotaPerSecUSec", "Restart", "KillMode", "MainPID")
    assert (limits["MemoryMax"], limits["TasksMax"], limits["CPUQuotaPerSecUSec"]) == (str(1 << 30), "1024", "2s"), limits
    assert (limits["Restart"], limits["KillMode"]) == ("always", "mixed"), limits
    # The state directory systemd made (StateDirectory=starling, 0700) holds the key.
    assert c.path("/var/lib/starling/agent-ed25519.pem").exists()
    assert oct(c.path("/var/lib/starling").stat().st_mode & 0o777) == "0o700"
    # Its log goes to the journal, under its identifier.
    assert "connected" in _journal(box, "-t", "starling-agent"), _why(box)


def test_killed_agent_is_restarted_and_reconnects(box):
    c: SystemdContainer = box["c"]
    before = _show(box, "MainPID", "NRestarts")
    assert int(before["MainPID"]) > 0, _why(box)
    c.systemctl("kill", "-s", "KILL", UNIT)

    def restarted() -> bool:
        now = _show(box, "MainPID", "NRestarts", "ActiveState")
        return now["ActiveState"] == "active" and int(now["NRestarts"]) > int(before["NRestarts"]) and now["MainPID"] not in ("0", before["MainPID"])

    wait_for(restarted, 30, "systemd to restart the killed agent (Restart=always, RestartSec=3s)")
    wait_for(lambda: reachable(box["home"], HOSTNAME), 60, "the restarted agent reachable again")
    assert _run(box, "cat /opt/starling/agent/VERSION")["stdout"].strip() == V_OLD


def test_upgrade_goes_through_systemd_run_and_systemctl_restart(box):
    c: SystemdContainer = box["c"]
    _sh(box, "apt-get", "update", "-q")
    before = _show(box, "MainPID", "NRestarts")
    stops = _journal(box, "_PID=1", "-u", UNIT).count("Stopping starling-agent.service")
    rc, doc = upgrade(box["home"], box["approver"], HOSTNAME, V_NEW)
    assert rc == 0, (json.dumps(doc), _why(box))
    (row,) = doc["hosts"]
    assert (row["from"], row["to"], row["result"], row.get("now")) == (V_OLD, V_NEW, "upgraded", V_NEW), row
    assert _sh(box, "dpkg-query", "-W", "-f=${Version}", "starling-agent").stdout == V_NEW
    # The helper ran as its own transient unit (systemd-run), outside the agent's cgroup,
    # and restarted the agent through systemd: the service runs the new version.
    # (The center closes the task when the new version registers; the helper sees it on
    # its next poll of running-version, a second apart.)
    log = c.path("/var/lib/starling/upgrade.log")
    wait_for(lambda: f"done: running {V_NEW}" in log.read_text(), 30, "the helper to log its end")
    assert f"upgrade {V_OLD} -> {V_NEW} with apt" in log.read_text(), _why(box)
    manager = _journal(box, "_PID=1")
    assert re.search(r"^Started starling-agent-upgrade-\d+\.service\b", manager, re.M), manager[-3000:]
    # One restart, by systemctl (postinst's try-restart; the helper saw it done and did not
    # stop the new agent again), not a kill that Restart= answered: a start asked of
    # systemd resets the restart counter (1 since the test before), Restart= raises it.
    after = _show(box, "MainPID", "NRestarts", "ActiveState")
    assert after["ActiveState"] == "active" and after["MainPID"] != before["MainPID"], after
    assert (before["NRestarts"], after["NRestarts"]) == ("1", "0"), (before, after)
    assert _journal(box, "_PID=1", "-u", UNIT).count("Stopping starling-agent.service") == stops + 1, _why(box)
    assert c.path("/opt/starling/agent/VERSION").read_text().strip() == V_NEW
    assert _run(box, "cat /opt/starling/agent/VERSION")["stdout"].strip() == V_NEW


def test_failed_upgrade_rolls_back_under_systemd(box):
    # A version the repository does not have: the install fails, the helper keeps (or puts
    # back) the running version, and the unit is still the running agent.
    rc, doc = upgrade(box["home"], box["approver"], HOSTNAME, f"9.9.9-1.{TAG}", "--wait", "10", "--max-failures", "0")
    assert rc == 1 and doc["hosts"][0]["code"] == "A026", (json.dumps(doc), _why(box))
    log = box["c"].path("/var/lib/starling/upgrade.log")
    wait_for(lambda: f"rolled back: running {V_NEW}" in log.read_text(), 30, "the helper to log the rollback")
    assert _sh(box, "dpkg-query", "-W", "-f=${Version}", "starling-agent").stdout == V_NEW
    assert _show(box, "ActiveState")["ActiveState"] == "active"
    wait_for(lambda: online_version(box["home"], HOSTNAME) == V_NEW, 60, "the agent back on the version it ran")


def test_remove_stops_and_disables_then_purge_forgets(box):
    c: SystemdContainer = box["c"]
    _sh(box, "apt-get", "remove", "-y", "-q", "starling-agent")
    # prerm: `systemctl disable --now`: stopped, no enable link; postrm reloaded systemd,
    # which no longer finds the unit file.
    state = _show(box, "LoadState", "ActiveState", "MainPID")
    assert state == {"LoadState": "not-found", "ActiveState": "inactive", "MainPID": "0"}, (state, _why(box))
    assert not c.path(WANTS).is_symlink()
    wait_for(lambda: online_version(box["home"], HOSTNAME) == "", 60, "the center to see the agent go")
    # remove keeps the configuration and the host's identity (key, enrollment).
    assert c.path("/etc/starling/agent.toml").exists()
    assert c.path("/var/lib/starling/agent-ed25519.pem").exists()
    _sh(box, "apt-get", "purge", "-y", "-q", "starling-agent")
    assert not c.path("/var/lib/starling").exists()
    assert not c.path("/opt/starling").exists()
    # The conffile goes; what the operator put beside it stays (dpkg leaves files it does
    # not own, and postrm removes /etc/starling only once it is empty).
    assert sorted(p.name for p in c.path("/etc/starling").iterdir()) == ["ca.pem", "identity.toml"]
