"""svc.enable / svc.disable / state.service.running through the sysv backend's real
tool (update-rc.d), in a private mount namespace: a child process bind-mounts a
temporary /etc/init.d and /etc/rc?.d over the host's and runs the actions there,
so the links update-rc.d writes land in the temporary tree and the host's boot
links are never touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent_core.testing import needs

SCRIPT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          stdemo
# Required-Start:
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: Starling test daemon
### END INIT INFO
[ "$1" = status ] && exit 3
exit 0
"""
LEVELS = [f"rc{n}.d" for n in "0123456S"]
SYSTEMD = os.path.isdir("/run/systemd/system")

# Runs inside `unshare -m`: the mounts vanish with the process.
CHILD = """
import json, subprocess, sys
import trio
from agent_core.testing import run_action

tree = sys.argv[1]
subprocess.run(["mount", "--make-rprivate", "/"], check=True)
for name in ["init.d", *{levels!r}]:
    subprocess.run(["mount", "--bind", f"{{tree}}/{{name}}", f"/etc/{{name}}"], check=True)

async def main():
    steps = [
        ("svc.disable", {{"name": "stdemo", "backend": "sysv"}}),
        ("svc.status", {{"name": "stdemo", "backend": "sysv"}}),
        ("svc.enable", {{"name": "stdemo", "backend": "sysv"}}),
        ("svc.status", {{"name": "stdemo", "backend": "sysv"}}),
        ("svc.enable", {{"name": "stdemo", "backend": "sysv"}}),
        ("svc.disable", {{"name": "stdemo", "backend": "sysv"}}),
        ("svc.disable", {{"name": "missing", "backend": "sysv"}}),
    ]
    if sys.argv[2] == "sysv-host":  # state.* picks the running init: sysv only where systemd is not
        steps.append(("state.service.running", {{"name": "stdemo", "running": False, "enabled": True}}))
        steps.append(("state.service.running", {{"name": "stdemo", "running": False, "enabled": True}}))
    for action, params in steps:
        out = await run_action(action, params)
        print(json.dumps({{"action": action, "code": out.code, "message": out.message, "value": out.value if out.ok else None}}))

trio.run(main)
"""


def _host_has_sysv_tree() -> bool:
    return os.path.isdir("/etc/init.d") and all(os.path.isdir(f"/etc/{lv}") for lv in LEVELS)


@needs("unshare", "mount", "update-rc.d")
@pytest.mark.skipif(
    os.geteuid() != 0, reason="mount namespaces need root: the real path is not exercised here"
)
@pytest.mark.skipif(
    not _host_has_sysv_tree(),
    reason="no /etc/init.d and /etc/rc?.d to mount over: the real path is not exercised here",
)
def test_enable_disable_with_update_rc_d(tmp_path: Path):
    tree = tmp_path / "etc"
    (tree / "init.d").mkdir(parents=True)
    for lv in LEVELS:
        (tree / lv).mkdir()
    (tree / "init.d/stdemo").write_text(SCRIPT)
    (tree / "init.d/stdemo").chmod(0o755)
    child = tmp_path / "child.py"
    child.write_text(CHILD.format(levels=LEVELS))
    host_rc2 = sorted(os.listdir("/etc/rc2.d"))

    res = subprocess.run(
        [
            "unshare",
            "-m",
            sys.executable,
            str(child),
            str(tree),
            "systemd-host" if SYSTEMD else "sysv-host",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    steps = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    noop, before, enable, after, again, disable, missing = steps[:7]
    assert noop["code"] == "" and noop["value"]["changed"] is False  # no links: nothing to disable
    assert before["value"]["enabled"] == "disabled" and before["value"]["backend"] == "sysv"
    assert (
        enable["code"] == ""
        and enable["value"]["enabled"] == "enabled"
        and enable["value"]["changed"]
    )
    assert "created rc2.d/S01stdemo" in enable["value"]["changes"]
    assert "created rc0.d/K01stdemo" in enable["value"]["changes"]
    assert after["value"]["enabled"] == "enabled"
    assert again["value"]["changed"] is False
    assert disable["value"]["enabled"] == "disabled" and disable["value"]["changed"]
    assert {"removed rc2.d/S01stdemo", "created rc2.d/K01stdemo"} <= set(
        disable["value"]["changes"]
    )
    assert missing["code"] == "A017"
    if not SYSTEMD:
        assert [s["code"] for s in steps[7:]] == ["", ""], steps[7:]
        first, second = (s["value"] for s in steps[7:])
        assert first["changed"] and first["diff"] == "enabled: disabled -> enabled\n"
        assert first["comment"] == "enabled stdemo" and second["changed"] is False
    # update-rc.d's links landed in the temporary tree (disable turns S into K links) ...
    if SYSTEMD:
        assert os.readlink(tree / "rc2.d/K01stdemo") == "../init.d/stdemo"
    else:  # state.service.running enabled it again
        assert os.readlink(tree / "rc2.d/S01stdemo") == "../init.d/stdemo"
    assert (tree / "rc0.d/K01stdemo").is_symlink()
    # ... and the host's boot links are as they were.
    assert sorted(os.listdir("/etc/rc2.d")) == host_rc2 and not os.path.exists("/etc/init.d/stdemo")
