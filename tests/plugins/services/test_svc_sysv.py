from __future__ import annotations

import os
import signal
import stat

import psutil
import pytest

from agent_core.testing import run_action

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


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def initdir(tmp_path):
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
    yield str(d)
    if pidfile.exists():  # never leave our test daemon behind
        pid = int(pidfile.read_text())
        if psutil.pid_exists(pid):
            os.kill(pid, signal.SIGTERM)


async def test_sysv_start_status_stop(initdir, tmp_path):
    out = await run_action("sysv.status", {"name": "stdemo", "initdir": initdir})
    assert out.ok, out.message
    assert out.value == {
        "name": "stdemo",
        "state": "stopped",
        "running": False,
        "exit_code": 3,
        "output": "not running",
    }

    out = await run_action("sysv.start", {"name": "stdemo", "initdir": initdir})
    assert out.ok, out.message
    assert (
        out.value["running"]
        and out.value["state"] == "running"
        and out.value["output"] == "started"
    )
    pid = int((tmp_path / "stdemo.pid").read_text())
    assert psutil.Process(pid).name() == "sleep"

    out = await run_action("sysv.restart", {"name": "stdemo", "initdir": initdir})
    assert out.ok and out.value["running"]
    new_pid = int((tmp_path / "stdemo.pid").read_text())
    assert new_pid != pid and _gone(pid)

    out = await run_action("sysv.stop", {"name": "stdemo", "initdir": initdir})
    assert out.ok and out.value["state"] == "stopped" and not (tmp_path / "stdemo.pid").exists()


async def test_sysv_failures(initdir):
    out = await run_action("sysv.start", {"name": "broken", "initdir": initdir})
    assert out.code == "A014" and "cannot open config" in out.message and out.exit_code == 1
    # The script has no reload: it exits 3 and the action says so.
    out = await run_action("sysv.reload", {"name": "stdemo", "initdir": initdir})
    assert out.code == "A014"
    assert (await run_action("sysv.status", {"name": "missing", "initdir": initdir})).code == "A017"
    assert (await run_action("sysv.status", {"name": "noexec", "initdir": initdir})).code == "A016"


async def test_sysv_real_init_script():
    names = sorted(
        n
        for n in os.listdir("/etc/init.d")
        if os.access(f"/etc/init.d/{n}", os.X_OK)
        and stat.S_ISREG(os.stat(f"/etc/init.d/{n}").st_mode)
    )
    if "cron" not in names:
        pytest.skip("/etc/init.d/cron absent on this host: the real path is not exercised here")
    out = await run_action("sysv.status", {"name": "cron"})
    assert out.ok and out.value["exit_code"] in (0, 1, 2, 3, 4)
    assert out.value["running"] == (out.value["exit_code"] == 0)


async def test_sysv_bad_params(initdir):
    assert (
        await run_action("sysv.status", {"name": "../../bin/sh", "initdir": initdir})
    ).code == "A002"
    assert (await run_action("sysv.start", {"name": "stdemo", "initdir": "init.d"})).code == "A002"
    assert (
        await run_action("sysv.stop", {"name": "stdemo", "initdir": "/no/such/dir"})
    ).code == "A017"
    assert (await run_action("sysv.status", {"name": "x", "bogus": 1})).code == "A002"
