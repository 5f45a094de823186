"""svc.* through both backends: systemd (a throwaway runtime unit on the systemd host:
this machine where systemd is its init, else a systemd booted in a container) and sysv (a real init script in a temporary init directory that starts a real
``sleep`` daemon, and the host's own /etc/init.d/cron read-only)."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from agent_core.testing import run_action
from plugins.services import _backend, svc

SYSTEMD = os.path.isdir("/run/systemd/system")

SCRIPT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          stdemo
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: Starling test daemon
### END INIT INFO
PIDFILE={pidfile}
case "$1" in
  start) sleep 300 >/dev/null 2>&1 & echo $! > $PIDFILE; echo "started";;
  stop) [ -f $PIDFILE ] && kill $(cat $PIDFILE) && rm -f $PIDFILE; echo "stopped";;
  restart) "$0" stop; "$0" start;;
  status)
    if [ -f $PIDFILE ] && kill -0 $(cat $PIDFILE) 2>/dev/null; then echo "running"; exit 0
    elif [ -f $PIDFILE ]; then echo "dead"; exit 1
    else echo "not running"; exit 3; fi;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 3;;
esac
"""


def _gone(pid: int, within: float = 5.0) -> bool:
    """The daemon ``pid`` is gone (exited or a zombie) within ``within`` seconds: the init
    script's ``kill`` returns when SIGTERM is sent, not when the daemon has died of it."""
    end = time.monotonic() + within
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.02)


@pytest.fixture
def initdir(tmp_path):
    """``tmp/init.d`` with stdemo (a real daemon), broken and noexec; ``tmp/rc2.d`` starts stdemo."""
    d = tmp_path / "init.d"
    d.mkdir()
    pidfile = tmp_path / "stdemo.pid"
    script = d / "stdemo"
    script.write_text(SCRIPT.format(pidfile=pidfile))
    script.chmod(0o755)
    broken = d / "broken"
    broken.write_text(
        "#!/bin/sh\n[ \"$1\" = status ] && exit 3\necho 'cannot open config' >&2; exit 1\n"
    )
    broken.chmod(0o755)
    (d / "noexec").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "rc2.d").mkdir()
    os.symlink("../init.d/stdemo", tmp_path / "rc2.d/S01stdemo")
    yield str(d)
    if pidfile.exists():  # never leave our test daemon behind
        pid = int(pidfile.read_text())
        if psutil.pid_exists(pid):
            os.kill(pid, signal.SIGTERM)


# -- sysv ------------------------------------------------------------------------------


async def test_sysv_status_start_restart_reload_stop(initdir, tmp_path):
    # An init directory other than /etc/init.d selects the sysv backend, systemd or not.
    out = await run_action("svc.status", {"name": "stdemo", "initdir": initdir})
    assert out.ok, out.message
    v = out.value
    assert (v["name"], v["backend"], v["running"], v["active_state"], v["sub_state"]) == (
        "stdemo",
        "sysv",
        False,
        "inactive",
        "stopped",
    )
    assert (v["enabled"], v["description"], v["exit_status"], v["status_text"]) == (
        "enabled",
        "Starling test daemon",
        3,
        "not running",
    )
    assert v["fragment_path"] == os.path.join(initdir, "stdemo")

    out = await run_action("svc.start", {"name": "stdemo.service", "initdir": initdir})
    assert out.ok, out.message
    assert (
        out.value["running"]
        and out.value["sub_state"] == "running"
        and out.value["log"] == ["started"]
    )
    pid = int((tmp_path / "stdemo.pid").read_text())
    assert psutil.Process(pid).name() == "sleep"

    out = await run_action("svc.restart", {"name": "stdemo", "initdir": initdir, "backend": "sysv"})
    assert out.ok and out.value["running"]
    new_pid = int((tmp_path / "stdemo.pid").read_text())
    assert new_pid != pid and _gone(pid)

    # The script has no reload: it exits 3 and the action says so, carrying the status.
    out = await run_action("svc.reload", {"name": "stdemo", "initdir": initdir})
    assert out.code == "A014" and "reload exited 3" in out.message

    out = await run_action("svc.stop", {"name": "stdemo", "initdir": initdir})
    assert (
        out.ok
        and out.value["active_state"] == "inactive"
        and not (tmp_path / "stdemo.pid").exists()
    )
    assert _gone(new_pid)


async def test_sysv_failures(initdir):
    out = await run_action("svc.start", {"name": "broken", "initdir": initdir})
    assert out.code == "A014" and "cannot open config" in out.message
    assert (await run_action("svc.status", {"name": "missing", "initdir": initdir})).code == "A017"
    assert (await run_action("svc.status", {"name": "noexec", "initdir": initdir})).code == "A016"
    assert (
        await run_action("svc.stop", {"name": "stdemo", "initdir": "/no/such/dir"})
    ).code == "A017"
    assert (await run_action("svc.start", {"name": "stdemo", "initdir": "init.d"})).code == "A002"


async def test_sysv_list(initdir):
    out = await run_action("svc.list", {"initdir": initdir, "all": True})
    assert out.ok, out.message
    rows = {r["name"]: r for r in out.value["services"]}
    assert out.value["backend"] == "sysv" and set(rows) == {"stdemo", "broken", "noexec"}
    assert rows["stdemo"] == {
        "name": "stdemo",
        "running": False,
        "active_state": "inactive",
        "sub_state": "stopped",
        "enabled": "enabled",
        "description": "Starling test daemon",
        "load_state": "",
    }
    assert (
        rows["broken"]["enabled"] == "disabled" and rows["noexec"]["sub_state"] == "not executable"
    )
    assert out.value["by_active_state"] == {"inactive": 2, "unknown": 1}
    await run_action("svc.start", {"name": "stdemo", "initdir": initdir})
    out = await run_action("svc.list", {"initdir": initdir, "state": "running", "pattern": "std*"})
    assert [r["name"] for r in out.value["services"]] == ["stdemo"] and out.value["services"][0][
        "running"
    ]
    out = await run_action(
        "svc.list", {"initdir": initdir}
    )  # without all: the inactive ones are left out
    assert {r["name"] for r in out.value["services"]} == {"stdemo", "noexec"}
    await run_action("svc.stop", {"name": "stdemo", "initdir": initdir})
    assert (await run_action("svc.list", {"initdir": initdir, "type": "timer"})).code == "A002"


async def test_sysv_enable_refuses_a_private_init_directory(initdir):
    # update-rc.d / chkconfig manage only the system's scripts; changing /etc/rc*.d of
    # this host from a test is not done, so only the refusal runs here.
    out = await run_action("svc.enable", {"name": "stdemo", "initdir": initdir})
    assert out.code == "A002" and "update-rc.d" in out.message
    out = await run_action(
        "svc.disable", {"name": "stdemo", "initdir": initdir, "backend": "sysv", "root": "/tmp"}
    )
    assert out.code == "A002"


async def test_sysv_real_init_script():
    if SYSTEMD or not os.access("/etc/init.d/cron", os.X_OK):
        pytest.skip("/etc/init.d/cron on a sysv host absent: the real path is not exercised here")
    out = await run_action("svc.status", {"name": "cron"})
    assert out.ok and out.value["backend"] == "sysv" and out.value["exit_status"] in (0, 1, 2, 3, 4)
    assert out.value["running"] == (out.value["exit_status"] == 0)


# -- systemd -----------------------------------------------------------------------------


async def test_systemd_control_cycle(systemd_host):
    run_action = systemd_host.run_action
    with systemd_host.temp_unit() as unit:
        out = await run_action("svc.status", {"name": unit})
        assert (
            out.ok
            and out.value["active_state"] == "inactive"
            and out.value["load_state"] == "loaded"
        )
        assert (
            out.value["backend"] == "systemd"
            and out.value["fragment_path"] == f"/run/systemd/system/{unit}"
        )
        out = await run_action("svc.start", {"name": unit})
        assert out.ok, out.message
        assert (
            out.value["active_state"] == "active" and out.value["running"] and out.value["main_pid"]
        )
        pid = out.value["main_pid"]
        out = await run_action("svc.status", {"name": unit, "log_lines": 5})
        assert (
            out.value["sub_state"] == "running" and out.value["description"] == "Starling test unit"
        )
        assert isinstance(out.value["log"], list)
        out = await run_action("svc.list", {"pattern": "starling-test-*", "state": "running"})
        assert [(r["name"], r["running"]) for r in out.value["services"]] == [(unit, True)]
        out = await run_action("svc.restart", {"name": unit})
        assert out.ok and out.value["main_pid"] != pid
        out = await run_action("svc.reload", {"name": unit})
        assert out.ok and out.value["active_state"] == "active"
        out = await run_action("svc.stop", {"name": unit})
        assert out.ok and out.value["active_state"] == "inactive" and out.value["main_pid"] is None
        assert (await run_action("svc.daemon_reload")).ok


async def test_systemd_enable_disable_live(systemd_host):
    # svc.enable/disable on the running systemd (not --root): the wants link and --now.
    run_action = systemd_host.run_action
    with systemd_host.temp_unit(install=True) as unit:
        link = systemd_host.path(f"/etc/systemd/system/multi-user.target.wants/{unit}")
        out = await run_action("svc.enable", {"name": unit, "now": True})
        assert out.ok, out.message
        assert (out.value["enabled"], out.value["changed"]) == ("enabled", True)
        assert link.is_symlink()
        out = await run_action("svc.status", {"name": unit})
        assert out.value["running"] and out.value["enabled"] == "enabled"
        assert (await run_action("svc.enable", {"name": unit})).value["changed"] is False
        out = await run_action("svc.disable", {"name": unit, "now": True})
        assert out.ok and out.value["enabled"] == "disabled" and out.value["changed"]
        assert not link.is_symlink()
        out = await run_action("svc.status", {"name": unit})
        assert not out.value["running"] and out.value["active_state"] == "inactive"


async def test_systemd_failing_and_missing_unit(systemd_host):
    run_action = systemd_host.run_action
    with systemd_host.temp_unit("/bin/false") as unit:
        out = await run_action("svc.start", {"name": unit})
        assert out.code == "A014" and "failed" in out.message
    assert (await run_action("svc.start", {"name": "starling-no-such-unit"})).code == "A017"
    assert (await run_action("svc.status", {"name": "starling-no-such-unit"})).code == "A017"


async def test_systemd_asked_for_where_it_does_not_run():
    if SYSTEMD:
        pytest.skip("systemd runs here: its absence is not exercised")
    for action, params in (
        ("svc.status", {"name": "cron", "backend": "systemd"}),
        ("svc.daemon_reload", {}),
    ):
        out = await run_action(action, params)
        assert out.code == "A003" and "systemd" in out.message


def test_unavailable_without_any_init_system(monkeypatch):
    monkeypatch.setattr(_backend, "running_init", lambda: None)
    assert _backend.available() is not None
    with pytest.raises(Exception) as info:
        _backend.choose()
    assert getattr(info.value, "code", "") == "A003"


def test_bad_params_refused_before_running(bad_params, invalid_unit):
    bad_params(svc.restart, {})
    bad_params(svc.start, {"name": "cron", "force": True})
    bad_params(svc.status, {"name": "cron", "log_lines": 1000})
    bad_params(svc.status, {"name": "a b"})
    bad_params(svc.stop, {"name": "-H"})
    bad_params(svc.svc_list, {"all": "yes"})
    bad_params(svc.enable, {"name": "cron", "backend": "upstart"})
    invalid_unit("../etc/passwd")
    invalid_unit("-H")


async def test_bad_names_answered(initdir):
    assert (
        await run_action("svc.status", {"name": "../../bin/sh", "initdir": initdir})
    ).code == "A002"
    assert (await run_action("svc.start", {"name": "x", "bogus": 1})).code == "A002"
    assert (await run_action("svc.list", {"pattern": "-x", "initdir": initdir})).code == "A002"


# The shape `systemctl show -p ...` prints, for the parsing that runs on every systemd host.
SHOW = """Id=nginx.service
Description=A high performance web server
LoadState=loaded
ActiveState=active
SubState=running
Result=success
UnitFileState=enabled
DropInPaths=/etc/systemd/system/nginx.service.d/limits.conf /run/systemd/system/nginx.service.d/x.conf
MainPID=812
NRestarts=2
MemoryCurrent=18446744073709551615
CPUUsageNSec=1500000000
TasksCurrent=3

Id=gone.service
LoadState=not-found
"""


def test_show_output_to_service():
    from plugins.services._systemd import parse_list, parse_show, to_status

    first, second = parse_show(SHOW)
    st = to_status(first, ["line"])
    assert (st.name, st.backend, st.running, st.active_state, st.sub_state, st.enabled) == (
        "nginx.service",
        "systemd",
        True,
        "active",
        "running",
        "enabled",
    )
    assert (st.main_pid, st.restarts, st.memory_bytes, st.cpu_seconds, st.tasks, st.log) == (
        812,
        2,
        None,
        1.5,
        3,
        ["line"],
    )
    assert st.drop_ins == [
        "/etc/systemd/system/nginx.service.d/limits.conf",
        "/run/systemd/system/nginx.service.d/x.conf",
    ]
    assert second == {"Id": "gone.service", "LoadState": "not-found"}
    text = "● foo.service loaded failed failed Foo daemon\n  bar.service loaded active running Bar with  two spaces\n"
    assert parse_list(text, 5) == [
        ["foo.service", "loaded", "failed", "failed", "Foo daemon"],
        ["bar.service", "loaded", "active", "running", "Bar with  two spaces"],
    ]
