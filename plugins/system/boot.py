"""When and how the host booted, and whether it is waiting for a reboot.

``sys.boot`` reports the boot time and boot id (a new id every boot, so two
readings with different ids mean the host rebooted in between), the init system
(PID 1), the running kernel against the newest one installed under
``/lib/modules`` and ``/boot``, and the distribution's reboot-required flag
(``/run/reboot-required`` on Debian and Ubuntu, with the packages that asked for
it; ``needs-restarting -r`` style checks are left to the package plugins).
Reads only.
"""

from __future__ import annotations

import os
import platform
import re
import time

import msgspec

from agent_core import ActionContext, NoParams, Plugin, Risk, action
from agent_core.procfs import exists, listdir, read

PLUGIN = Plugin("sys.boot", domain="system")

REBOOT_REQUIRED = "/run/reboot-required"
KERNEL_DIRS = ("/lib/modules", "/boot")


class BootInfo(msgspec.Struct):
    boot_id: str
    boot_time: float
    booted_at: str
    uptime: float
    init: str
    init_exe: str
    kernel_running: str
    kernels_installed: list[str]
    kernel_newest: str
    kernel_update_pending: bool
    reboot_required: bool
    reboot_required_by: list[str]


def _version_key(release: str) -> list[tuple[int, str]]:
    """Sort key for kernel releases: numbers numerically, the rest as text."""
    return [(int(tok), "") if tok.isdigit() else (-1, tok) for tok in re.split(r"[.\-+~_]", release)]


def installed_kernels() -> list[str]:
    """Kernel releases with modules or a ``vmlinuz-*`` image on disk."""
    found = {name for name in listdir("/lib/modules") if os.path.isdir(f"/lib/modules/{name}/kernel")}
    found |= {name[len("vmlinuz-"):] for name in listdir("/boot") if name.startswith("vmlinuz-")}
    return sorted(found, key=_version_key)


@action("sys.boot", risk=Risk.READ, timeout=10)
async def boot(ctx: ActionContext, p: NoParams) -> BootInfo:
    """Boot id and time, init system, running vs newest installed kernel, and the reboot-required flag."""
    btime = next(
        (float(line.split()[1]) for line in (read("/proc/stat") or "").splitlines() if line.startswith("btime ")),
        0.0,
    )
    up = float((read("/proc/uptime") or "0").split()[0])
    try:
        init_exe = os.readlink("/proc/1/exe")
    except OSError:
        init_exe = ""
    running = platform.release()
    kernels = installed_kernels()
    newest = kernels[-1] if kernels else running
    pkgs = (read(REBOOT_REQUIRED + ".pkgs") or "").split()
    return BootInfo(
        boot_id=read("/proc/sys/kernel/random/boot_id") or "",
        boot_time=btime,
        booted_at=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(btime)),
        uptime=up,
        init=read("/proc/1/comm") or "",
        init_exe=init_exe,
        kernel_running=running,
        kernels_installed=kernels,
        kernel_newest=newest,
        kernel_update_pending=bool(kernels) and newest != running and _version_key(newest) > _version_key(running),
        reboot_required=exists(REBOOT_REQUIRED),
        reboot_required_by=sorted(set(pkgs)),
    )
