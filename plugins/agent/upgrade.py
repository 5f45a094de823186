"""Self-upgrade: install another version of the agent's own package, restart into it,
and roll back when the new version does not come up.

``agent.upgrade`` takes a package version (``0.1.1-1.py311``, what
``/opt/starling/agent/VERSION`` says) and hands the work to a helper process that
outlives the agent's restart: on a systemd host it runs as its own transient unit
(``systemd-run``), outside the agent's cgroup, so restarting the agent does not kill it.
The helper installs ``starling-agent`` at that version from the host's package
repositories (apt or dnf/yum, downgrades allowed), restarts the agent (under systemd
the package's postinst already restarted a running agent, and the helper restarts it only
if it did not; without systemd, SIGTERM to the agent so its supervisor starts the new
one), and waits for the new
version to connect (``running-version`` in the state dir). If the install fails or the
new agent is not connected within ``wait`` seconds, it installs the previous version
again and restarts once more. It logs to ``upgrade.log`` in the state dir.

The action answers at once with ``from`` and ``to``; the center sees the outcome when
the agent re-registers with its version (``starling hosts``), which is what
``starling upgrade`` waits for, wave by wave.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    InvalidParams,
    Plugin,
    Risk,
    Unavailable,
    action,
)

PACKAGE = "starling-agent"
#: Debian and RPM version strings; nothing a shell or a package manager could misread.
VERSION_RE = r"^[0-9][A-Za-z0-9.+~]*(-[A-Za-z0-9.+~]+)?$"

HELPER = r"""#!/bin/sh
# Written and started by the agent's agent.upgrade action; see plugins/agent/upgrade.py.
TOOL=$1 NEW=$2 OLD=$3 STATE=$4 PID=$5 WAIT=$6
log() { echo "$(date -u +%FT%TZ) $*" >> "$STATE/upgrade.log"; }
install_version() {
  case "$TOOL" in
    apt) DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades \
           -o Dpkg::Options::=--force-confold "starling-agent=$1" >> "$STATE/upgrade.log" 2>&1 ;;
    dnf|yum) "$TOOL" install -y "starling-agent-$1" >> "$STATE/upgrade.log" 2>&1 \
           || "$TOOL" downgrade -y "starling-agent-$1" >> "$STATE/upgrade.log" 2>&1 ;;
    *) return 1 ;;
  esac
}
main_pid() { [ -d /run/systemd/system ] && systemctl show -p MainPID --value starling-agent.service; }
restart_agent() {
  if [ -d /run/systemd/system ]; then
    # The package's postinst restarts a running agent on upgrade (try-restart); restart
    # only if it did not, so the new agent is not stopped again as it connects.
    [ "$(main_pid)" = "$1" ] && systemctl restart starling-agent.service
  else
    # No systemd: the agent's supervisor starts the installed version again.
    pid=$(cut -d' ' -f2 "$STATE/running-version" 2>/dev/null || echo "$PID")
    kill -TERM "${pid:-$PID}" 2>/dev/null
  fi
}
came_up() {
  i=0
  while [ "$i" -lt "$WAIT" ]; do
    [ "$(cut -d' ' -f1 "$STATE/running-version" 2>/dev/null)" = "$1" ] && return 0
    sleep 1; i=$((i + 1))
  done
  return 1
}
sleep 1  # the agent reports this task's result first
log "upgrade $OLD -> $NEW with $TOOL"
rm -f "$STATE/running-version"
before=$(main_pid)
if install_version "$NEW"; then
  restart_agent "$before"
  if came_up "$NEW"; then log "done: running $NEW"; exit 0; fi
  log "$NEW did not connect within ${WAIT}s"
else
  log "installing $NEW failed"
fi
log "rolling back to $OLD"
rm -f "$STATE/running-version"
before=$(main_pid)
install_version "$OLD" && restart_agent "$before"
if came_up "$OLD"; then log "rolled back: running $OLD"; else log "rollback to $OLD failed"; fi
exit 1
"""


class UpgradeParams(msgspec.Struct, forbid_unknown_fields=True):
    #: The starling-agent package version to install (``dpkg -l``/``rpm -q`` form).
    version: Annotated[str, msgspec.Meta(pattern=VERSION_RE, max_length=64)]
    #: Seconds the new version has to connect before the helper rolls back.
    wait: Annotated[int, msgspec.Meta(ge=10, le=3600)] = 120


class Scheduled(msgspec.Struct):
    #: The version running now, and the one being installed.
    from_version: str = msgspec.field(name="from")
    to_version: str = msgspec.field(name="to")
    tool: str
    helper: str


def _tool() -> str:
    for name in ("apt-get", "dnf", "yum"):
        if shutil.which(name):
            return "apt" if name == "apt-get" else name
    return ""


def _unavailable() -> str | None:
    # plugins/agent/upgrade.py in /opt/starling/agent/lib: the bundle root is three up.
    if not (Path(__file__).resolve().parents[3] / "VERSION").exists():
        return "not a packaged agent (no /opt/starling/agent/VERSION): upgrade it the way it was installed"
    if not _tool():
        return "no apt-get, dnf or yum on this host"
    return None


PLUGIN = Plugin("agent.upgrade", domain="agent", check=_unavailable)


def _start_helper(state: Path, tool: str, new: str, old: str, wait: int) -> Path:
    helper = state / "upgrade-helper.sh"
    helper.write_text(HELPER)
    helper.chmod(0o700)
    argv = ["/bin/sh", str(helper), tool, new, old, str(state), str(os.getpid()), str(wait)]
    if Path("/run/systemd/system").is_dir() and shutil.which("systemd-run"):
        # Its own transient unit: out of the agent's cgroup, so the restart spares it.
        argv = ["systemd-run", "--quiet", "--collect", f"--unit=starling-agent-upgrade-{int(time.time())}", *argv]
    # A new session: not in the task's process group, which the runner may kill.
    subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    return helper


@action("agent.upgrade", risk=Risk.DANGER, timeout=30)
async def upgrade(ctx: ActionContext, p: UpgradeParams) -> Scheduled:
    """Install starling-agent at ``version`` from the host's repositories and restart into it; roll back if it does not come up."""
    why = _unavailable()
    if why:
        raise Unavailable(why)
    if not re.match(VERSION_RE, p.version):
        raise InvalidParams(f"not a package version: {p.version!r}")
    current = ctx.agent.version
    if p.version == current:
        raise InvalidParams(f"already running {current}")
    import trio

    helper = await trio.to_thread.run_sync(_start_helper, Path(ctx.agent.state_dir), _tool(), p.version, current, p.wait)
    return Scheduled(from_version=current, to_version=p.version, tool=_tool(), helper=str(helper))
